"""torch-to-keras for every net scripts/train.py builds: each arch x norm (both --ln-axes, GroupNorm,
pre and post, the MLP's Dropout and logit norm, the LSTM), from a checkpoint of the shape train.py
writes, saved as .keras, loaded back and compared on 500 images in both modes (each row judged on its
float32 control, Keras f32 vs f64); a wrong mapping (the naive Flatten order, a (C, H, W) LayerNorm
gamma read in (H, W, C) order, MHA heads not split) fails that same check, and the script then exits 1;
what cannot be mapped is refused in one line. The whole path through train.py is tests/test_torch_to_keras_runs.py's."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
import yaml

import parity  # noqa: F401  (torch side, then Keras side)

from lightning_mods.data import synthetic_split
from lightning_mods.nets import NetConfig, build_net
from lightning_mods.spec_net import SpecNet
from parity import transfer_vision
from parity.compare_vision import ARCH_NORMS
from parity.convert.predictions import compare, load_saved
from parity.convert.torch_to_keras import checkpoint_to_keras, unmapped
from parity.transfer_vision import paired_layers, torch_arrays


def case(arch: str, norm: str, **kw) -> NetConfig:
    activation = {"cnn": "relu", "lenet": "sigmoid", "vit": "gelu"}.get(arch, "relu")
    extra = dict(hidden=[32, 16]) if arch == "mlp" else dict(lstm_units=8) if arch == "lstm" else {}
    return NetConfig(**{**dict(arch=arch, norm=norm, activation=activation, groups=2, init="he_normal"), **extra, **kw})


CASES = {f"{arch} {norm}": case(arch, norm) for arch in ("cnn", "lenet", "vit") for norm in ARCH_NORMS[arch]}
CASES.update({
    "cnn ln c": case("cnn", "ln", ln_axes="c"), "lenet ln c": case("lenet", "ln", ln_axes="c"),
    "cnn bn post silu": case("cnn", "bn", placement="post", activation="silu"),
    "lenet gn post": case("lenet", "gn", placement="post"), "vit ln relu": case("vit", "ln", activation="relu"),
    "mlp bn dropout": case("mlp", "bn", dropout=0.3), "mlp gn logits": case("mlp", "gn", norm_logits=True),
    "mlp ln post gelu": case("mlp", "ln", placement="post", activation="gelu"),
    "lstm ln": case("lstm", "ln"), "lstm bn": case("lstm", "bn"), "lstm none": case("lstm", "none"),
})


def trained_like(config: NetConfig, seed: int = 0) -> torch.nn.Module:
    """The net with every parameter moved off its init (gammas off 1, betas and biases off 0: a
    layout error in them shows) and BN running statistics off (0, 1), as a trained net has them."""
    torch.manual_seed(seed)
    net = build_net(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p) * (p.abs().mean() + 0.1))
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return net


def checkpoint(tmp_path, config: NetConfig, net: torch.nn.Module):
    """A file of the shape scripts/train.py's checkpoints have (what read_checkpoint reads)."""
    path = tmp_path / "best.ckpt"
    torch.save({"hyper_parameters": {"net": asdict(config)},
                "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


@pytest.fixture(scope="module")
def images():
    x, y = synthetic_split(500, 7)
    return x.float().div(255).numpy(), y.numpy()


def converted(tmp_path, config: NetConfig):
    net = trained_like(config)
    model, back, _ = checkpoint_to_keras(checkpoint(tmp_path, config, net))
    model.save(tmp_path / "m.keras")
    return net, back, model, load_saved(tmp_path / "m.keras")


@pytest.mark.parametrize("name", list(CASES))
def test_every_trained_net_converts_back(name, tmp_path, images):
    net, back, _, loaded = converted(tmp_path, CASES[name])
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
    result = compare(back, loaded, *images)
    assert result.passed, "\n".join(result.lines())
    assert [row.tolerance <= 1e-3 for row in result.rows] == [True, True]
    assert result.differ == 0, result.lines()[-1]


def _broken(tmp_path, images, name: str, layer_name: str, arrays) -> list:
    net, back, model, loaded = converted(tmp_path, CASES[name])
    assert compare(back, loaded, *images).passed  # the real mapping passes the same check
    model.get_layer(layer_name).set_weights(arrays(back, model))
    return compare(back, model, *images).rows


def test_the_naive_flatten_order_fails(tmp_path, images):
    def naive(net, model):  # the Dense after Flatten with torch's (C, H, W) rows as they are
        [(kind, module, layer, flat)] = [entry for entry in paired_layers(net, model) if entry[3] is not None]
        assert flat == (64, 3, 3) and layer.name == "dense_3"
        return [torch_arrays(kind, module, None)["kernel"]]  # no bias: a BN follows it

    rows = _broken(tmp_path, images, "cnn bn", "dense_3", naive)
    assert not rows[0].passed and rows[0].diff.rel > 100 * rows[0].tolerance


def test_a_chw_layernorm_gamma_in_the_wrong_order_fails(tmp_path, images):
    def naive(net, model):  # (C, H, W) reshaped to (H, W, C) instead of transposed
        module = paired_layers(net, model)[1][1]
        return [module.weight.detach().numpy().reshape(28, 28, 16), module.bias.detach().numpy().reshape(28, 28, 16)]

    rows = _broken(tmp_path, images, "cnn ln", "norm_0", naive)
    assert not rows[0].passed and not rows[1].passed


def test_mha_heads_not_split_fail(tmp_path, images):
    def naive(net, model):  # torch's packed rows reshaped to (D, h, d) without the transpose
        weights = model.get_layer("mha_0").get_weights()
        weights[0] = weights[0].reshape(64, 64).T.reshape(64, 4, 16)
        return weights

    rows = _broken(tmp_path, images, "vit ln", "mha_0", naive)
    assert not rows[0].passed


def test_a_saved_vit_loads_back(tmp_path):
    _, _, _, loaded = converted(tmp_path, CASES["vit bn"])
    assert [type(layer).__name__ for layer in loaded.layers].count("MultiHeadAttention") == 2
    assert loaded.get_layer("position").embedding.shape == (1, 16, 64)


def test_what_cannot_be_mapped_is_named():
    spec = [{"layer": "input", "shape": [28, 28]}, {"layer": "flatten"},
            {"layer": "instance_norm", "name": "inorm"}, {"layer": "bn", "name": "b", "features": 4, "momentum": 0.01,
                                                          "eps": 1e-3, "renorm": True}]
    assert unmapped(spec) == ["'inorm' (instance_norm)", "'b' (bn: option renorm)"]


def _refused(convert_script, capsys, ckpt, out) -> str:
    assert convert_script.main(["torch-to-keras", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "; " in err
    assert not out.exists()
    return err


def test_an_unmapped_option_or_arch_is_refused_in_one_line(tmp_path, capsys, convert_script):
    net_dir = tmp_path / "net"
    net_dir.mkdir()
    spec = [{"layer": "input", "shape": [28, 28]}, {"layer": "flatten"},
            {"layer": "bn", "name": "b", "features": 784, "momentum": 0.01, "eps": 1e-3, "renorm": True},
            {"layer": "dense", "name": "d", "units": 10, "in_features": 784, "use_bias": True, "activation": "linear"}]
    (net_dir / "spec.yaml").write_text(yaml.safe_dump(spec))
    config = NetConfig(net_dir=str(net_dir))
    ckpt = checkpoint(tmp_path, config, SpecNet(spec))
    assert "'b' (bn: option renorm)" in _refused(convert_script, capsys, ckpt, tmp_path / "m.keras")
    config = NetConfig(arch="resnet")
    ckpt = checkpoint(tmp_path, config, torch.nn.Linear(2, 2))
    assert "arch 'resnet'" in _refused(convert_script, capsys, ckpt, tmp_path / "m.keras")
    torch.save({"hyper_parameters": {"net": {"arch": "mlp", "width_mult": 2}}, "state_dict": {}}, ckpt)
    assert "width_mult" in _refused(convert_script, capsys, ckpt, tmp_path / "m.keras")


def test_the_script_exits_1_when_a_mapping_is_wrong(tmp_path, capsys, convert_script, monkeypatch):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("data: synthetic\n")
    ckpt = checkpoint(run / "checkpoints", CASES["cnn gn"], trained_like(CASES["cnn gn"]))
    args = ["torch-to-keras", str(ckpt), "--out", str(tmp_path / "m.keras")]
    assert convert_script.main(args) == 0
    assert capsys.readouterr().out.strip().splitlines()[-2].startswith("PASS")
    naive = transfer_vision.torch_arrays
    monkeypatch.setattr(transfer_vision, "torch_arrays", lambda kind, module, flat=None: naive(kind, module, None))
    assert convert_script.main(args + ["--overwrite"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("FAIL") and " FAIL " in lines[-4] and " FAIL " in lines[-3]
