"""What the optimizers here need to know about the backend Keras runs on."""

from __future__ import annotations

import contextlib

import keras


def is_torch() -> bool:
    """Whether Keras runs on PyTorch (eager: every op runs as it is called)."""
    return keras.backend.backend() == "torch"


def no_grad() -> contextlib.AbstractContextManager:
    """`torch.no_grad()` on PyTorch, else nothing.

    An optimizer's update must build no autograd graph: Keras' own PyTorch optimizers
    disable gradients in their update, so `apply` in a custom training loop (outside
    `torch.no_grad()`) records nothing and costs no more than in `fit`.
    """
    if not is_torch():
        return contextlib.nullcontext()
    import torch

    return torch.no_grad()
