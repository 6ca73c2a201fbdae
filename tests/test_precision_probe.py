"""The precision advice comes from a measurement on this machine: the decision with known
(injected) probe answers, the per-machine cache, the trainer's `auto`, and the real probe."""

import json
import math

import pytest
import tensorflow as tf

from official.training import recipes
from official.runtime import precision_probe
from official.training import config as config_lib

FAST = lambda: (40.0, 64.0)    # noqa: E731  bfloat16 1.6x float32: an AVX512-BF16 EPYC
SLOW = lambda: (266.0, 151.0)  # noqa: E731  bfloat16 0.57x: the Xeon whose flags said "native"


class Counting:
    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def __call__(self):
        self.calls += 1
        return self.answer()


def test_bfloat16_only_where_measured_faster(tmp_path):
    fast = precision_probe.measure(FAST, str(tmp_path / "a.json"), key="fast machine")
    slow = precision_probe.measure(SLOW, str(tmp_path / "b.json"), key="slow machine")
    assert fast.speedup == pytest.approx(1.6) and precision_probe.choose(fast) == "bfloat16"
    assert slow.speedup == pytest.approx(151 / 266) and precision_probe.choose(slow) == "float32"
    # A marginal win is not taken: the probe's convolutions gain more than a whole step.
    marginal = precision_probe.measure(lambda: (100.0, 105.0), str(tmp_path / "c.json"), key="m")
    assert precision_probe.choose(marginal) == "float32"
    assert precision_probe.describe(slow).startswith("bfloat16 convolutions measured at 0.57x float32")
    assert "151.0 against 266.0 GFLOP/s" in precision_probe.describe(slow)


def test_the_measurement_is_cached_per_machine(tmp_path):
    path = str(tmp_path / "cache" / "probe.json")          # the folder does not exist yet
    probe = Counting(FAST)
    first = precision_probe.measure(probe, path, key="machine A")
    again = precision_probe.measure(probe, path, key="machine A")
    assert probe.calls == 1 and not first.cached and again.cached
    assert again.speedup == pytest.approx(first.speedup)
    other = precision_probe.measure(Counting(SLOW), path, key="machine B")   # another CPU / TF
    assert not other.cached and precision_probe.choose(other) == "float32"
    precision_probe.measure(probe, path, key="machine A", refresh=True)
    assert probe.calls == 2
    table = json.load(open(path))
    assert set(table["machines"]) == {"machine A", "machine B"}


def test_a_broken_or_unwritable_cache_only_means_measuring_again(tmp_path):
    path = tmp_path / "probe.json"
    path.write_text("{not json")
    probe = Counting(SLOW)
    assert precision_probe.choose(precision_probe.measure(probe, str(path), key="k")) == "float32"
    assert probe.calls == 1 and "k" in json.loads(path.read_text())["machines"]
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    m = precision_probe.measure(probe, str(blocker / "probe.json"), key="k")  # folder is a file
    assert not m.cached and probe.calls == 2
    with pytest.raises(ValueError, match="non-positive speeds"):
        precision_probe.measure(lambda: (0.0, 1.0), str(tmp_path / "z.json"), key="k")


def test_the_key_names_what_the_speed_depends_on(monkeypatch):
    key = precision_probe.machine_key()
    assert f"tf{tf.__version__}" in key and "threads=" in key
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert precision_probe.machine_key() != key     # oneDNN changes bfloat16's speed most
    monkeypatch.setenv("RESNET_RS_CACHE_DIR", "/somewhere")
    assert precision_probe.cache_file() == "/somewhere/precision_probe.json"


@pytest.mark.parametrize("probe,expected", [(FAST, "bfloat16"), (SLOW, "float32")])
def test_trainer_auto_precision_follows_the_measurement_and_logs_it(monkeypatch, tmp_path,
                                                                    probe, expected):
    monkeypatch.setenv("RESNET_RS_CACHE_DIR", str(tmp_path))
    lines = []
    monkeypatch.setattr(precision_probe.logging, "info", lambda fmt, *a: lines.append(fmt % a))
    config = recipes.recipe(depth=50, image_size=64, dropout_rate=0.0, drop_connect_rate=0.0,
                           randaug_magnitude=10)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert config.train.precision == "auto"
    assert config_lib.resolve_precision(config, strategy, probe_fn=probe) == expected
    assert any(line.startswith(f"precision auto: {expected} (bfloat16 convolutions measured at")
               for line in lines), lines
    config.train.precision = "float32"       # an explicit choice is never overridden
    assert config_lib.resolve_precision(config, strategy, probe_fn=FAST) == "float32"


def test_the_real_probe_measures_both_dtypes():
    f32, bf16 = precision_probe.probe(seconds=0.05, batch=1, size=8)
    assert all(math.isfinite(v) and v > 0 for v in (f32, bf16))


def test_resolve_keeps_explicit_precisions_and_measures_auto(tmp_path):
    lines = []
    log = lambda fmt, *a: lines.append(fmt % a)  # noqa: E731
    path = str(tmp_path / "p.json")
    assert precision_probe.resolve("float32", FAST, path, log) == "float32" and not lines
    assert precision_probe.resolve("auto", FAST, path, log) == "bfloat16"
    assert "1.60x float32" in lines[0]

