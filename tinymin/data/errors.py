"""The errors the dataset code raises: each message names the file or the folder."""

class DatasetError(ValueError):
    """A dataset file is corrupt or not in the expected format; the message names it."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk; the message says where to put them."""


class DownloadError(DatasetNotFoundError):
    """Every mirror failed (network error or SHA-256 mismatch); nothing was kept."""
