"""The paper's AAE family (§2.3-§7): each kind trains, saves, opens, and uses its labels as the paper says."""

from __future__ import annotations

import pytest
import torch

from aae_core.config import ConfigError, ModelConfig, TrainConfig
from aae_core.inference import load_model
from aae_core.kinds import KINDS
from aae_core.priors import make_prior
from aae_core.trainer import train

SIZES = {
    "supervised": {"num_classes": 10},
    "labelled-prior": {"label_slots": 11},
    "semi-supervised": {"categories": 10, "num_classes": 10},
    "cluster": {"categories": 16, "num_classes": 16},
    "dimred": {"categories": 16},
}


def paper_model(kind: str, hidden: int = 64, **overrides) -> ModelConfig:
    sizes = {**SIZES[kind], **overrides}
    return ModelConfig(
        kind=kind, input_dim=64, latent_dim=2, hidden_dims=(hidden, hidden), disc_hidden_dims=(hidden, hidden), **sizes
    )


def fit(tmp_path, digits, config, prior="gaussian", **train_args):
    return train(
        config,
        TrainConfig(**{"epochs": 2, **train_args}),
        make_prior(prior, 2),
        digits,
        tmp_path / f"{config.kind}.safetensors",
        device="cpu",
        progress=False,
    )


@pytest.mark.parametrize(
    "kind,prior,labels,losses",
    [
        ("supervised", "gaussian", -1, {"recon", "disc", "gen"}),
        ("labelled-prior", "mixture", 300, {"recon", "disc", "gen"}),
        ("semi-supervised", "gaussian", 100, {"recon", "disc", "gen", "class"}),
        ("cluster", "gaussian", 0, {"recon", "disc", "gen"}),
        ("dimred", "gaussian", 0, {"recon", "disc", "gen"}),
    ],
)
def test_each_kind_trains_and_opens(tmp_path, digits, kind, prior, labels, losses):
    result = fit(tmp_path, digits, paper_model(kind), prior, labels=labels, epochs=3, batch_size=50)
    history = result.history
    assert set(history[-1]) - {"epoch", "step"} == losses
    assert history[-1]["recon"] < history[0]["recon"]
    model = load_model(result.path)
    z = torch.zeros(10, 2)
    images = model.decode(z, labels=torch.arange(10)) if model.num_classes else model.decode(z)
    assert images.shape == (10, 8, 8)
    if model.num_classes:  # the label changes the decoded digit: the decoder really reads it
        assert not torch.allclose(images[0], images[1])
    if model.categories:
        probs = model.classify(digits.eval.images[:5])
        assert probs.shape == (5, model.categories) and torch.allclose(probs.sum(1), torch.ones(5))


def test_metrics_per_kind(tmp_path, digits):
    semi = fit(tmp_path, digits, paper_model("semi-supervised"), labels=100)
    assert 0 <= semi.metrics["classification_error"] <= 1
    cluster = fit(tmp_path, digits, paper_model("cluster"), labels=0)
    assert {"cluster_error_paper", "cluster_error_majority"} <= set(cluster.metrics)


def test_dimred_with_labels_adds_the_classification_phase(tmp_path, digits):
    result = fit(tmp_path, digits, paper_model("dimred", categories=10), labels=100)
    assert "class" in result.history[-1]
    model = load_model(result.path)
    heads = model.model.cluster_heads.detach()
    # The code is W·y + style: decoding needs no label, and the cluster heads are a (K, d) matrix.
    assert heads.shape == (10, 2) and model.num_classes == 0


def test_label_splits_are_balanced_and_saved(tmp_path, digits):
    labels = digits.train.labels
    seen, index = KINDS["semi-supervised"].visible_labels(TrainConfig(labels=100, seed=3), labels)
    assert (seen >= 0).sum() == 100 and torch.bincount(seen[seen >= 0]).tolist() == [10] * 10
    assert torch.equal(seen[index], labels[index])
    result = fit(tmp_path, digits, paper_model("semi-supervised"), labels=100, seed=3, epochs=1)
    from aae_core.checkpoint import load_checkpoint

    assert torch.equal(load_checkpoint(result.path).tensors["labels.index"], index)


def test_label_requirements_are_enforced(digits):
    labels = digits.train.labels
    with pytest.raises(ConfigError, match="needs labels"):
        KINDS["semi-supervised"].visible_labels(TrainConfig(labels=0), labels)
    with pytest.raises(ConfigError, match="needs every training label"):
        KINDS["supervised"].visible_labels(TrainConfig(labels=100), labels)
    hidden, _ = KINDS["cluster"].visible_labels(TrainConfig(labels=-1), labels)
    assert (hidden == -1).all()  # the clustering AAE never sees a label
    with pytest.raises(ConfigError, match="one component per class"):
        train(
            paper_model("labelled-prior"),
            TrainConfig(epochs=1),
            make_prior("gaussian", 2),
            digits,
            "unused.safetensors",
            device="cpu",
            progress=False,
        )
    with pytest.raises(ConfigError, match="categories >= 2"):
        ModelConfig(kind="cluster", input_dim=64, categories=1, num_classes=1)


@pytest.mark.slow
def test_semi_supervised_learns_from_100_labels(tmp_path, digits):
    # 100 labels of 1,438; chance is 90 % error. Measured here: 15 % after these 20 epochs.
    result = fit(tmp_path, digits, paper_model("semi-supervised", hidden=128), labels=100, epochs=20, batch_size=50)
    assert result.metrics["classification_error"] < 0.35


@pytest.mark.slow
def test_labelled_prior_discriminator_reads_the_label(tmp_path, digits):
    # Paper §2.3: the one-hot label "selects the decision boundary" of the discriminator. A sample from component k
    # must look more like the prior under label k than under another label.
    config = paper_model("labelled-prior", hidden=128)
    result = fit(tmp_path, digits, config, "mixture", labels=-1, epochs=10, batch_size=50)
    model = load_model(result.path)
    labels = torch.arange(10).repeat(100)
    z = model.prior.sample_given_labels(labels, torch.Generator().manual_seed(0))
    own, other = model.model.discriminate(z, labels), model.model.discriminate(z, (labels + 5) % 10)
    assert (own > other).float().mean() > 0.65 and own.mean() > other.mean()


def test_discriminators_see_their_inputs_through_instance_noise(digits):
    # Without noise the y discriminator's real inputs are exact one-hots, which no softmax reaches: it wins and the
    # clusters collapse. With --instance-noise both its real and fake inputs are blurred by N(0, noise²).
    from aae_core.kinds import build_model
    from aae_core.phases import categorical_regularization_step

    config = paper_model("cluster")
    for noise in (0.0, 0.3):
        torch.manual_seed(0)
        model = build_model(config)
        seen: list[torch.Tensor] = []
        model.y_discriminator.register_forward_pre_hook(lambda module, args, store=seen: store.append(args[0].detach()))
        optimizers = [
            torch.optim.Adam(model.y_discriminator.parameters()),
            torch.optim.Adam(model.encoder.parameters()),
        ]
        categorical_regularization_step(
            model, digits.train.images[:200], make_prior("gaussian", 2), *optimizers, torch.Generator(), noise=noise
        )
        real, fake, fake_again = seen  # prior one-hots, codes for the discriminator, codes for the generator
        nearest_one_hot = torch.nn.functional.one_hot(real.argmax(1), config.categories).float()
        assert abs(float((real - nearest_one_hot).std()) - noise) < 0.02
        # The generator step is judged on the same noisy inputs the discriminator was trained on.
        assert torch.allclose(fake, fake_again)
        if noise == 0:
            assert torch.allclose(fake.sum(1), torch.ones(200), atol=1e-5)  # plain softmax outputs
        else:
            assert not torch.allclose(fake.sum(1), torch.ones(200), atol=0.1)


def test_labelled_reconstruction_decodes_the_labelled_batch_from_its_true_label(tmp_path, digits):
    from aae_core.kinds import build_model
    from aae_core.phases import categorical_reconstruction_step

    model = build_model(paper_model("semi-supervised"))
    decoded: list[torch.Tensor] = []
    model.decoder.register_forward_pre_hook(lambda module, args: decoded.append(args[0].detach()))
    x, y = digits.train.images[:30], digits.train.labels[:30]
    optimizer = torch.optim.Adam(model.parameters())
    categorical_reconstruction_step(model, x[:20], optimizer, labelled=(x[20:], y[20:]))
    unlabelled_input, labelled_input = decoded
    assert torch.equal(labelled_input[:, 2:], torch.nn.functional.one_hot(y[20:], 10).float())  # (z, one-hot)
    assert not torch.equal(unlabelled_input[:, 2:], unlabelled_input[:, 2:].round())  # softmax q(y|x), not a one-hot
    result = fit(tmp_path, digits, paper_model("semi-supervised"), labels=100, epochs=1, labelled_reconstruction=True)
    from aae_core.checkpoint import load_checkpoint

    assert load_checkpoint(result.path).metadata["training"]["config"]["labelled_reconstruction"] is True


def test_instance_noise_must_be_a_non_negative_number():
    for bad in (-0.1, float("nan")):
        with pytest.raises(ConfigError, match="--instance-noise"):
            TrainConfig(instance_noise=bad)


def test_the_categorical_joint_step_moves_the_encoder_by_both_goals_and_the_decoder_by_reconstruction(digits):
    # --categorical-adversarial joint: one Adam step of encoder and decoder on recon + weight x generator losses.
    # The generator losses reach only the encoder, so the decoder's step is the same whatever the weight.
    import copy

    from aae_core.kinds import build_model
    from aae_core.phases import categorical_joint_step

    torch.manual_seed(0)
    start = build_model(paper_model("cluster"))
    after = {}
    for weight in (0.0, 50.0):
        model = copy.deepcopy(start)
        autoencoder = torch.optim.Adam([*model.encoder.parameters(), *model.decoder.parameters()], lr=1e-2)
        discriminators = torch.optim.Adam([*model.discriminator.parameters(), *model.y_discriminator.parameters()])
        recon, disc, gen = categorical_joint_step(
            model,
            digits.train.images[:200],
            make_prior("gaussian", 2),
            autoencoder,
            discriminators,
            torch.Generator().manual_seed(0),
            noise=0.3,
            weight=weight,
        )
        assert all(torch.isfinite(t) for t in (recon, disc, gen)) and gen > 0
        after[weight] = model
    for name, value in after[0.0].decoder.state_dict().items():
        assert torch.equal(value, after[50.0].decoder.state_dict()[name]), name
    pairs = zip(after[0.0].encoder.parameters(), after[50.0].encoder.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)
    for name, value in after[0.0].y_discriminator.state_dict().items():  # the discriminators learn alike
        assert torch.equal(value, after[50.0].y_discriminator.state_dict()[name]), name
        assert not torch.equal(value, start.y_discriminator.state_dict()[name]), name


def test_categorical_models_train_jointly_when_asked_and_say_so(tmp_path, digits):
    config = paper_model("semi-supervised")
    result = fit(tmp_path, digits, config, labels=100, epochs=1, categorical_adversarial="joint")
    from aae_core.checkpoint import load_checkpoint

    stored = load_checkpoint(result.path).metadata["training"]["config"]
    assert stored["categorical_adversarial"] == "joint"
    assert 0 <= result.metrics["classification_error"] < 1
    with pytest.raises(ConfigError, match="--categorical-adversarial"):
        TrainConfig(categorical_adversarial="both")
    with pytest.raises(ConfigError, match="--labelled-reconstruction"):
        TrainConfig(categorical_adversarial="joint", labelled_reconstruction=True)


def test_a_clustering_model_with_more_clusters_than_classes_reopens(tmp_path):
    # Its decoder takes a one-hot cluster, not a class: 12 clusters on MNIST's 10 named classes is fine.
    from aae_core.checkpoint import load_checkpoint
    from aae_core.data import load_dataset
    from tests.conftest import make_idx_dir

    data = load_dataset("mnist", make_idx_dir(tmp_path / "mnist", n_train=60, n_eval=20))
    config = ModelConfig(
        kind="cluster", latent_dim=2, hidden_dims=(16,), disc_hidden_dims=(16,), categories=12, num_classes=12
    )
    result = train(
        config, TrainConfig(epochs=1), make_prior("gaussian", 2), data, tmp_path / "c.safetensors", progress=False
    )
    assert len(load_checkpoint(result.path).metadata["dataset"]["classes"]) == 10
    model = load_model(result.path)
    assert model.model.config.categories == 12 and model.atlas is not None


def nearest_head_distance(result) -> float:
    return float(torch.pdist(load_model(result.path).model.cluster_heads.detach()).min())


def test_dimred_heads_part_to_the_margin(tmp_path, digits):
    # The heads start about 0.3 apart (a unit Gaussian draw of 16 points in 2-D). At the networks' rate Adam moves
    # them too little for the hinge to part them; their own rate (`head_lr`) does, within a few epochs.
    config = paper_model("dimred", head_margin=1.0)
    parted = fit(tmp_path / "own-rate", digits, config, labels=0, epochs=8, batch_size=50)
    assert nearest_head_distance(parted) >= 0.9
    shared = fit(tmp_path / "network-rate", digits, config, labels=0, epochs=8, batch_size=50, head_lr=2e-4)
    assert nearest_head_distance(shared) < 0.5
