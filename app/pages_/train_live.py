"""Train live: a small model learns on the CPU while its latent map takes the prior's shape."""

from app import views
from app.training_panel import drawn_prior_pad, train_and_open, training_form

views.page_frame(
    "Train live",
    "Train a small model on the CPU and watch its codes take the prior's shape.",
    "Train a small model on scikit-learn's 8×8 digits right here on the CPU. The map redraws a few times "
    "during training: watch the codes start as one blob and spread out to take the prior's shape (AAE), or "
    "crowd the centre (VAE), or drift anywhere (plain autoencoder, which has no prior to match).\n\n"
    "- The model is saved into the runs folder and selected in the sidebar when training ends, so every "
    "other page can explore it.\n"
    "- **Try:** the AAE with the swiss-roll prior (the VAE cannot use it: the roll has no density).\n"
    "- **Draw a prior:** draw a shape on the pad (or pick the ring, the smiley or the letter A), choose *Drawn* as "
    "the prior and train the AAE: its codes fill your shape.",
    expanded=True,
    needs_model=False,
    training_note=True,
)

shape = drawn_prior_pad("live_drawn")
request = training_form("live", drawn=shape)
if request is not None:
    train_and_open(request)
