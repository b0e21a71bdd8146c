"""Solution of the torch_clip exercise."""

import torch


def step3_clip(a, mu, clip_value):
    if clip_value is None:
        return a, None
    bound = (clip_value * mu).to(a.dtype)
    return torch.minimum(torch.maximum(a, -bound), bound), a.abs() <= bound
