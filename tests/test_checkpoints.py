"""Official checkpoint readers, against checkpoints written in the official layouts.

The files are written by tests/official_layouts.py at real RS-50 shapes with every
EMA shadow different from its raw variable; the readers must reproduce the
shadows bit-exactly, and the loaded Keras model must compute what an independent
tf.nn forward pass computes from the same file.
"""

import http.server
import io
import os
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf

import official_layouts as layouts
from official.checkpoints import files as checkpoint_files
from official.checkpoints import readers as readers_lib
from official.modeling import resnet_rs


@pytest.fixture(scope="module")
def tf1_ckpt(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("tf1") / "model.ckpt")  # no `checkpoint` file, as in some tarballs
    raw, shadow = layouts.write_tf1(prefix, depth=50)
    return prefix, raw, shadow


@pytest.fixture(scope="module")
def garden_ckpt(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("garden") / "ckpt-109200")
    raw, average = layouts.write_garden(prefix, depth=50)
    return prefix, raw, average


@pytest.fixture(scope="module")
def tf1_model():
    return readers_lib.model_for_format("tf1", 50)


@pytest.fixture(scope="module")
def tf1_same_padding_model():
    """A TF1-family model with the Garden's padding: the mistake of docs/fidelity.md #2."""
    return resnet_rs.from_family("tf1", 50, num_classes=1000, padding="same")


@pytest.fixture(scope="module")
def garden_model():
    return readers_lib.model_for_format("garden", 50)


def _official_to_ours(official_layers):
    """Pairs our layer names with the official ones by creation order (CONTRACTS.md)."""
    ours = resnet_rs.block_layer_names(50)
    assert len(ours) == len(official_layers)
    return list(zip(ours, [name for name, _, _ in official_layers]))


def _assert_model_holds(model, pairs, values, head_transform=lambda v: v):
    n = 0
    for ours, theirs in pairs:
        for v in model.get_layer(ours).weights:
            expected = values[f"{theirs}/{v.name}"]
            if ours == "logits":
                expected = head_transform(expected)
            np.testing.assert_array_equal(v.numpy(), expected, err_msg=f"{ours}/{v.name} <- {theirs}")
            n += 1
    assert n == len(model.weights)


# ------------------------------------------------------------------------------ name tables --
@pytest.mark.parametrize("depth,last_conv,last_bn,model_vars", [
    (50, "conv2d_87", "batch_normalization_55", 346), (101, "conv2d_172", "batch_normalization_106", 669),
    (152, "conv2d_257", "batch_normalization_157", 992), (200, "conv2d_337", "batch_normalization_205", 1296),
    (270, "conv2d_457", "batch_normalization_277", 1752), (350, "conv2d_587", "batch_normalization_355", 2246),
    (420, "conv2d_702", "batch_normalization_424", 2683)])
def test_tf1_table_matches_fact_sheet_counts(depth, last_conv, last_bn, model_vars):
    table = readers_lib.tf1_table(depth)
    convs = [t for o, t in table if t.startswith("conv2d")]
    bns = [t for o, t in table if t.startswith("batch_norm")]
    assert convs[-1] == last_conv and bns[-1] == last_bn
    assert sum(len(readers_lib._layer_variables(o)) for o, _ in table) == model_vars
    # The helper's independent counter walk agrees name for name.
    assert [t for _, t in table] == [n for n, _, _ in layouts.tf1_layers(depth)]


def test_tf1_table_worked_example():
    """The worked example of docs/fidelity.md (TF1 checkpoints): projection first, SE convs on the conv counter."""
    table = dict(readers_lib.tf1_table(50))
    assert table["stage2_block0_shortcut_conv"] == "conv2d_4"
    assert table["stage2_block0_conv1"] == "conv2d_5"
    assert table["stage2_block0_se_reduce"] == "conv2d_8"
    assert table["stage2_block0_se_expand"] == "conv2d_9"
    assert table["stage2_block1_conv1"] == "conv2d_10" and table["stage2_block1_bn1"] == "batch_normalization_8"
    assert table["stage3_block0_shortcut_conv"] == "conv2d_20"
    assert table["stage4_block0_shortcut_bn"] == "batch_normalization_27"
    assert table["stage5_block0_shortcut_conv"] == "conv2d_72"


def test_garden_table_keys():
    table = dict(readers_lib.garden_table(50))
    assert table["stem_conv1"] == "backbone/layer_with_weights-0"
    assert table["stem_bn4"] == "backbone/layer_with_weights-7"
    assert table["stage2_block0_shortcut_conv"] == "backbone/layer_with_weights-8/_shortcut1"
    assert table["stage2_block0_shortcut_bn"] == "backbone/layer_with_weights-8/_norm0"
    assert table["stage5_block2_se_expand"] == "backbone/layer_with_weights-23/_squeeze_excitation/_se_expand"
    assert table["logits"] == "model/layer_with_weights-1"


# ------------------------------------------------------------------------------ TF1 --------
def test_tf1_layout_has_official_counts(tf1_ckpt):
    prefix, _, _ = tf1_ckpt
    keys = dict(tf.train.list_variables(prefix))
    assert len(keys) == 927  # 346 model + global_step + 234 Momentum + 346 shadows (docs/fidelity.md: TF1 checkpoints)
    assert keys["conv2d_87/kernel/ExponentialMovingAverage"] == [1, 1, 512, 2048]
    assert "batch_normalization_55/moving_variance/ExponentialMovingAverage" in keys


def test_tf1_loads_every_shadow_bit_exactly(tf1_ckpt, tf1_model):
    prefix, raw, shadow = tf1_ckpt
    # A directory without a `checkpoint` index file resolves to its only prefix (docs/fidelity.md #14).
    readers_lib.load_into(tf1_model, os.path.dirname(prefix), format="tf1")
    pairs = _official_to_ours(layouts.tf1_layers(50))
    _assert_model_holds(tf1_model, pairs, shadow)
    # Including the BN moving statistics, which differ from their raw last-batch values (docs/fidelity.md #1).
    bn = tf1_model.get_layer("stage3_block2_bn2")
    assert not np.array_equal(bn.moving_mean.numpy(), raw[dict(pairs)["stage3_block2_bn2"] + "/moving_mean"])


def test_tf1_ema_false_loads_raw(tf1_ckpt, tf1_model):
    prefix, raw, _ = tf1_ckpt
    readers_lib.load_into(tf1_model, prefix, format="tf1", ema=False)
    _assert_model_holds(tf1_model, _official_to_ours(layouts.tf1_layers(50)), raw)


def test_tf1_forward_matches_independent_reference(tf1_ckpt, tf1_model, tf1_same_padding_model):
    prefix, _, _ = tf1_ckpt
    readers_lib.load_into(tf1_model, prefix, format="tf1")
    images = np.random.default_rng(1).standard_normal((2, 64, 96, 3)).astype(np.float32)
    ours = tf1_model(images).numpy()
    reference = layouts.reference_logits(prefix, "tf1", 50, images)
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)
    assert np.ptp(reference) > 0.1  # a meaningful comparison, not all zeros
    # The same weights with SAME padding give other logits: the test sees a padding mistake (docs/fidelity.md #2).
    same = tf1_same_padding_model
    same.set_weights(tf1_model.get_weights())
    assert np.abs(same(images).numpy() - reference).max() > 1e-3


def test_tf1_rejects_wrong_family(tf1_ckpt, tf1_same_padding_model):
    prefix, _, _ = tf1_ckpt
    model = tf1_same_padding_model
    with pytest.raises(checkpoint_files.CheckpointError, match="padding='same'.*padding='fixed'"):
        readers_lib.load_into(model, prefix, format="tf1")


def test_tf1_backbone_only(tf1_ckpt):
    prefix, _, shadow = tf1_ckpt
    model = readers_lib.model_for_format("tf1", 50, include_top=False)
    readers_lib.load_into(model, prefix, format="tf1")
    pairs = _official_to_ours(layouts.tf1_layers(50))[:-1]
    _assert_model_holds(model, pairs, shadow)


@pytest.mark.slow  # builds an RS-101 (~15 s)
def test_tf1_wrong_depth_is_named(tf1_ckpt):
    prefix, _, _ = tf1_ckpt
    model = readers_lib.model_for_format("tf1", 101)
    with pytest.raises(checkpoint_files.CheckpointError, match="depth 50"):
        readers_lib.load_into(model, prefix, format="tf1")


def test_tf1_read_as_garden_is_refused(tf1_ckpt, garden_model):
    with pytest.raises(checkpoint_files.CheckpointError, match="not a Model Garden checkpoint"):
        readers_lib.load_into(garden_model, tf1_ckpt[0], format="garden")


def test_tf1_unknown_and_missing_tensors_are_named(tmp_path, tf1_model):
    tensors, _, _ = layouts.tf1_tensors(momentum=False)
    extra = dict(tensors, **{"conv2d_5/weird_slot": np.zeros(3, np.float32)})
    layouts._save(str(tmp_path / "extra"), extra)
    with pytest.raises(checkpoint_files.CheckpointError, match="conv2d_5/weird_slot"):
        readers_lib.load_into(tf1_model, str(tmp_path / "extra"), format="tf1")
    missing = {k: v for k, v in tensors.items() if k != "batch_normalization_7/gamma/ExponentialMovingAverage"}
    layouts._save(str(tmp_path / "missing"), missing)
    with pytest.raises(checkpoint_files.CheckpointError, match="batch_normalization_7/gamma/ExponentialMovingAverage"):
        readers_lib.load_into(tf1_model, str(tmp_path / "missing"), format="tf1")
    wrong = dict(tensors)
    wrong["conv2d_9/kernel/ExponentialMovingAverage"] = np.zeros((1, 1, 256, 65), np.float32)
    layouts._save(str(tmp_path / "shape"), wrong)
    with pytest.raises(checkpoint_files.CheckpointError, match=r"stage2_block0_se_expand/kernel.*conv2d_9"):
        readers_lib.load_into(tf1_model, str(tmp_path / "shape"), format="tf1")


def test_corrupt_and_truncated_checkpoints_are_named(tmp_path, tf1_model):
    prefix = str(tmp_path / "model.ckpt")
    layouts.write_tf1(prefix, momentum=False, shadows=False)
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    with pytest.raises(checkpoint_files.CheckpointError, match="model.ckpt"):
        readers_lib.load_into(tf1_model, prefix, format="tf1", ema=False)
    with open(prefix + ".index", "wb") as f:
        f.write(b"not an index")
    with pytest.raises(checkpoint_files.CheckpointError, match="cannot read checkpoint.*model.ckpt"):
        readers_lib.load_into(tf1_model, prefix, format="tf1")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        readers_lib.load_into(tf1_model, str(tmp_path / "nowhere"), format="tf1")


# ------------------------------------------------------------------------------ Garden -----
def test_garden_layout_has_official_counts(garden_ckpt):
    keys = dict(tf.train.list_variables(garden_ckpt[0]))
    assert len(keys) == 932  # docs/fidelity.md (Garden checkpoints): 344 + 2 + 2 counters + 3 hypers + 580 slots + object graph
    assert keys["model/layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == [2048, 1001]


def test_garden_ckpt_loads_averages_and_drops_background(garden_ckpt, garden_model):
    prefix, raw, average = garden_ckpt
    readers_lib.load_into(garden_model, prefix, format="garden")
    pairs = _official_to_ours(layouts.garden_layers(50))
    _assert_model_holds(garden_model, pairs, average, head_transform=lambda v: v[..., 1:])
    images = np.random.default_rng(2).standard_normal((2, 64, 64, 3)).astype(np.float32)
    reference = layouts.reference_logits(prefix, "garden", 50, images)  # 1001 columns
    ours = garden_model(images).numpy()
    np.testing.assert_allclose(ours, reference[:, 1:], atol=1e-4, rtol=0)
    assert np.abs(ours - reference[:, :-1]).max() > 1e-3  # a class-offset mistake would show (docs/fidelity.md #4)


def test_garden_ema_checkpoint_has_averages_in_model(tmp_path, garden_model):
    prefix = str(tmp_path / "ema_checkpoints" / "average_weights-109200")
    raw, average = layouts.write_garden(prefix, depth=50, averages_in_model=True)
    pairs = _official_to_ours(layouts.garden_layers(50))
    readers_lib.load_into(garden_model, prefix, format="garden")
    _assert_model_holds(garden_model, pairs, average, head_transform=lambda v: v[..., 1:])
    readers_lib.load_into(garden_model, prefix, format="garden", ema=False)
    _assert_model_holds(garden_model, pairs, raw, head_transform=lambda v: v[..., 1:])


@pytest.mark.slow  # two more RS-50 checkpoints and models (~25 s)
def test_garden_backbone_only_and_model_only_layouts(tmp_path, garden_model):
    prefix = str(tmp_path / "backbone" / "ckpt-1")
    _, average = layouts.write_garden(prefix, depth=50, head=False)
    full = garden_model
    with pytest.raises(checkpoint_files.CheckpointError, match="include_top=False"):
        readers_lib.load_into(full, prefix, format="garden")
    features = readers_lib.model_for_format("garden", 50, include_top=False)
    readers_lib.load_into(features, prefix, format="garden")
    _assert_model_holds(features, _official_to_ours(layouts.garden_layers(50))[:-1], average)
    # Checkpoint(model=...) only: the backbone sits under model/layer_with_weights-0/ (docs/fidelity.md: Garden checkpoints).
    prefix = str(tmp_path / "model_only" / "ckpt-1")
    raw, _ = layouts.write_garden(prefix, depth=50, slots=False, backbone="model/layer_with_weights-0/")
    readers_lib.load_into(full, prefix, format="garden")  # no averages: the raw weights, with a warning
    pairs = _official_to_ours(layouts.garden_layers(50, backbone="model/layer_with_weights-0/"))
    _assert_model_holds(full, pairs, raw, head_transform=lambda v: v[..., 1:])


def test_garden_rejects_tf1_model(garden_ckpt, tf1_model):
    with pytest.raises(checkpoint_files.CheckpointError, match="activation='relu'.*'swish'"):
        readers_lib.load_into(tf1_model, garden_ckpt[0], format="garden")


def test_garden_read_as_tf1_is_refused(garden_ckpt, tf1_model):
    with pytest.raises(checkpoint_files.CheckpointError, match="not a TF1"):
        readers_lib.load_into(tf1_model, garden_ckpt[0], format="tf1")


# ------------------------------------------------------------------------------ names, download --
def test_official_names_and_urls():
    assert len(checkpoint_files.OFFICIAL) == 11
    assert checkpoint_files.official_url("resnet-rs-50-i160") == (
        "https://storage.googleapis.com/cloud-tpu-checkpoints/resnet-rs/resnet-rs-50-i160.tar.gz")
    assert checkpoint_files.official_url("resnet-rs-350-i320", "garden") == (
        "https://storage.googleapis.com/tf_model_garden/vision/resnet-rs/resnet-rs-350-i320.tar.gz")
    assert checkpoint_files.official_info("resnet-rs-420-i320") == (420, 320)
    with pytest.raises(checkpoint_files.CheckpointError, match="no resnet-rs-420-i320"):
        checkpoint_files.official_url("resnet-rs-420-i320", "garden")
    with pytest.raises(checkpoint_files.CheckpointError, match="unknown official checkpoint name 'resnet-rs-51-i160'"):
        checkpoint_files.resolve("resnet-rs-51-i160")


class _Server:
    """A 127.0.0.1 HTTP server for one test: path -> bytes (or a callable handler)."""

    def __init__(self, routes):
        self.routes, self.hits = routes, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                length = len(body) * 2 if self.path.startswith("/short") else len(body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _tarball(members):
    """A .tar.gz from [(name, bytes | ("symlink"|"hardlink", target))]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture(scope="module")
def small_tarball(tmp_path_factory):
    """An official-layout tarball (no `checkpoint` file) holding a tiny TF1-named checkpoint."""
    d = tmp_path_factory.mktemp("small")
    tf.raw_ops.SaveV2(prefix=str(d / "model.ckpt"), tensor_names=["global_step"], shape_and_slices=[""],
                      tensors=[tf.constant(7, tf.int64)])
    members = [(f"resnet-rs-50-i160/{f}", (d / f).read_bytes()) for f in sorted(os.listdir(d))
               if f.startswith("model.ckpt")]
    return _tarball(members)


def _cache_files(cache):
    return [os.path.join(r, f) for r, _, fs in os.walk(cache) for f in fs] + \
           [os.path.join(r, d) for r, ds, _ in os.walk(cache) for d in ds if d not in ("tf1", "garden")]


def test_download_once_into_cache(tmp_path, small_tarball):
    server = _Server({"/rs50.tar.gz": small_tarball})
    try:
        cache = str(tmp_path / "cache")
        prefix = checkpoint_files.resolve("resnet-rs-50-i160", "tf1", cache, url=server.url + "/rs50.tar.gz")
        assert prefix == os.path.join(cache, "tf1", "resnet-rs-50-i160", "resnet-rs-50-i160", "model.ckpt")
        assert tf.train.load_checkpoint(prefix).get_tensor("global_step") == 7
        again = checkpoint_files.resolve("resnet-rs-50-i160", "tf1", cache, url=server.url + "/rs50.tar.gz")
        assert again == prefix and server.hits == ["/rs50.tar.gz"]
        assert not [f for f in os.listdir(os.path.join(cache, "tf1")) if f.startswith(".")]  # temp files gone
    finally:
        server.close()


@pytest.mark.parametrize("route,members,error", [
    ("/missing.tar.gz", None, "HTTP Error 404"),
    ("/short.tar.gz", "good", "truncated"),
    ("/garbage.tar.gz", b"this is not gzip", "not a readable tarball"),
    ("/abs.tar.gz", [("/tmp/evil_abs_resnet_rs", b"x")], "absolute path"),
    ("/dotdot.tar.gz", [("a/../../evil_dotdot", b"x")], "outside the cache"),
    ("/symlink.tar.gz", [("a/model.ckpt.index", ("symlink", "/etc/passwd"))], "link"),
    ("/hardlink.tar.gz", [("a/x", b"x"), ("a/model.ckpt.index", ("hardlink", "a/x"))], "link"),
    ("/empty.tar.gz", [("a/readme.txt", b"x")], "holds no checkpoint"),
])
def test_bad_downloads_leave_nothing(tmp_path, small_tarball, route, members, error):
    body = small_tarball if members == "good" else members if isinstance(members, bytes) else (
        _tarball(members) if members else None)
    server = _Server({route: body} if body is not None else {})
    cache = tmp_path / "cache"
    try:
        with pytest.raises(checkpoint_files.DownloadError, match=error):
            checkpoint_files.resolve("resnet-rs-50-i160", "tf1", str(cache), url=server.url + route)
    finally:
        server.close()
    assert _cache_files(cache) == []
    assert not os.path.exists(tmp_path / "evil_dotdot") and not os.path.exists("/tmp/evil_abs_resnet_rs")


# ------------------------------------------------------------------------------ native -----
def test_native_checkpoint_loads_ema_averages(tmp_path, tf1_model):
    import keras
    from official.training import ema as ema_lib

    trained = readers_lib.model_for_format("native", 50)
    ema = ema_lib.ExponentialMovingAverage(trained)
    rng = np.random.default_rng(5)
    for average in ema.averages:  # averages that differ from the model's values
        average.assign(rng.standard_normal(average.shape).astype(np.float32))
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(trained.trainable_variables)
    prefix = tf.train.Checkpoint(step=tf.Variable(3, dtype=tf.int64), model=trained, optimizer=optimizer,
                                 ema=ema).write(str(tmp_path / "ckpt-3"))
    readers_lib.load_into(tf1_model, prefix, format="native")
    for v, average in zip(ema_lib.averaged_variables(tf1_model), ema.averages):
        np.testing.assert_array_equal(v.numpy(), average.numpy(), err_msg=v.path)
    readers_lib.load_into(tf1_model, prefix, format="native", ema=False)
    for v, w in zip(tf1_model.weights, trained.weights):
        np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=v.path)
    with pytest.raises(checkpoint_files.CheckpointError, match="not a checkpoint written by tools/train.py"):
        readers_lib.load_into(tf1_model, _tiny_tf1(tmp_path), format="native")


def _tiny_tf1(tmp_path):
    prefix = str(tmp_path / "tiny" / "model.ckpt")
    layouts._save(prefix, {"conv2d/kernel": np.zeros((3, 3, 3, 32), np.float32)})
    return prefix
