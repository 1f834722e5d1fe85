"""aae_core: Adversarial Autoencoders (Makhzani et al., arXiv 1511.05644) and their baselines."""

__version__ = "0.1.0"
