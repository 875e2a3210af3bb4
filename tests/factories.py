"""Factories the factory tests name (tests/ is on sys.path): one good, and one for each way to fail."""
from __future__ import annotations

import threading

import torch
from torch import nn

RELEASE = threading.Event()  # what the hanging factory waits on; the test sets it when done


class Linear(nn.Module):
    """A tiny linear VAE for the 8x8 digits, with a classifier: enough to run every verb."""

    dataset = "digits"
    latent_dim = 3

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc, self.dec, self.head = nn.Linear(64, 6), nn.Linear(3, 64), nn.Linear(64, 10)

    def encode(self, x):
        mu, logvar = self.enc(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z):
        return self.dec(z).view(-1, 1, 8, 8)

    def classify(self, x):
        return self.head(x.flatten(1))


class NaNDecoder(Linear):
    def decode(self, z):
        return torch.full((len(z), 1, 8, 8), float("nan"))


def good():
    return Linear()


def nan_decoder():
    return NaNDecoder()


def raises():
    raise RuntimeError("the weights file is not where I expected")


def wrong_type():
    return {"encode": "not a method"}


def no_dataset():
    model = Linear()
    model.dataset = "imagenet"
    return model


def hangs():
    RELEASE.wait(60)
    return Linear()


class Conditional(nn.Module):
    """A conditional one: the class moves the code and the image."""

    dataset = "digits"
    latent_dim = 3
    conditional = True
    decoder_output = "probabilities"

    def encode(self, x, y):
        mu = x.flatten(1)[:, :3] + y[:, None].float()
        return mu, torch.zeros_like(mu)

    def decode(self, z, y):
        return torch.sigmoid(z.sum(1, keepdim=True) + y[:, None].float()).expand(-1, 64).reshape(-1, 1, 8, 8)


def conditional():
    return Conditional()
