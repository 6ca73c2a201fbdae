"""SavedModel export: fresh-process reloads, the official preprocessing, acceptance vs tf.nn.

The acceptance tests run tools/export_saved_model.py exactly as users do on
checkpoints written in the official layouts (random weights, real RS-50 shapes),
feed real JPEG bytes to serving_default, and compare with an independent
reference: the TF1 / Garden eval preprocessing written from docs/fidelity.md and a
forward pass in plain tf.nn ops reading tensors by their official names
(tests/official_layouts.py). The official code itself does not install beside
TF 2.21, so this is the strongest check available here.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

import official_layouts as layouts
from conftest import ROOT, SMALL, jpeg as _jpeg, run_python, small_model, tool_env
from official.checkpoints import readers
from official.serving import export
from official.data import preprocessing
from official.modeling import normalization

SIZE = 64  # small serving size keeps the RS-50 forward passes fast


@pytest.fixture(scope="module")
def jpegs():
    """Real photos of different sizes and aspect ratios, as JPEG bytes."""
    return [_jpeg(skimage.data.astronaut()), _jpeg(skimage.data.chelsea()), _jpeg(skimage.data.coffee())]


@pytest.fixture(scope="module")
def tf1_export(tmp_path_factory):
    """A TF1 training-layout checkpoint (raw, Momentum, shadows) exported by the CLI, as users do."""
    d = tmp_path_factory.mktemp("tf1_export")
    prefix = str(d / "resnet-rs-50-i160" / "model.ckpt")
    layouts.write_tf1(prefix, depth=50, seed=3)
    export_dir = str(d / "serving" / "1")
    result = _cli_export(os.path.dirname(prefix), "tf1", export_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return prefix, export_dir


@pytest.fixture(scope="module")
def tf1_served(tf1_export, jpegs, tmp_path_factory):
    """serving_default's outputs on the photos, from a fresh process."""
    return _serve_in_fresh_process(tf1_export[1], jpegs, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def tf1_loaded(tf1_export):
    return tf.saved_model.load(tf1_export[1]).signatures


def _run(args):
    return subprocess.run(args, cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=600)


def _serve_in_fresh_process(export_dir, jpegs, tmp_path):
    """serving_default in a new Python process; returns its outputs as numpy arrays."""
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, *[np.frombuffer(b, np.uint8) for b in jpegs])
    out = tmp_path / "outputs.npz"
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "data = np.load(sys.argv[2]); batch = [data[k].tobytes() for k in sorted(data, key=lambda k: int(k.split('_')[1]))]\n"
        "fn = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "np.savez(sys.argv[3], **{k: v.numpy() for k, v in fn(image_bytes=tf.constant(batch)).items() if v.dtype != tf.string})\n")
    result = run_python("-c", script, export_dir, inputs, out)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out))


def test_reload_in_fresh_process_matches_in_process_model(tf1_export, tf1_served, jpegs):
    prefix, _ = tf1_export
    model = readers.model_for_format("tf1", 50)
    readers.load_into(model, prefix, format="tf1")
    images = tf.stack([preprocessing.preprocess_for_eval(b, SIZE, "tf1", 32) for b in jpegs])
    in_process = model(normalization.normalize(images)).numpy()
    served = tf1_served
    np.testing.assert_allclose(served["logits"], in_process, atol=1e-4, rtol=0)
    assert served["logits"].shape == (3, 1000) and served["classes"].shape == (3, 5)
    np.testing.assert_allclose(served["probabilities"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(served["classes"], np.argsort(-in_process, -1)[:, :5])
    np.testing.assert_allclose(served["scores"], np.take_along_axis(served["probabilities"], served["classes"], -1))


def test_acceptance_tf1_cli_export_matches_reference(tf1_export, tf1_served, jpegs):
    """CLI export + serving_default on JPEG bytes == independent TF1 preprocessing + tf.nn network."""
    images = np.stack([layouts.reference_tf1_preprocess(b, SIZE) for b in jpegs])
    reference = layouts.reference_logits(tf1_export[0], "tf1", 50, images)
    _assert_acceptance(tf1_served, reference)
    assert np.ptp(reference) > 0.1
    # float32 by default: the batch norms stay, in the official order of operations.
    assert export.read_metadata(tf1_export[1])["batch_norm_folded"] is False


def test_preprocessing_matches_independent_tf1_formula(jpegs):
    """preprocess_for_eval + normalize == the formula of docs/fidelity.md (eval preprocessing, normalisation) computed here, at several sizes."""
    for jpeg in jpegs:
        for size in (64, 160, 224):
            ours = normalization.normalize(preprocessing.preprocess_for_eval(jpeg, size, "tf1", 32)).numpy()
            np.testing.assert_allclose(ours, layouts.reference_tf1_preprocess(jpeg, size), atol=1e-4, rtol=0)
    # The formula itself, against numbers worked by hand: 375x500 at 160 -> side int(160/192*375) = 312.
    assert layouts.tf1_eval_crop(375, 500, 160) == (32, 94, 312)


def test_undecodable_bytes_fail_only_that_request(tf1_loaded, jpegs):
    fn = tf1_loaded["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError):
        fn(image_bytes=tf.constant([b"definitely not an image"]))
    out = fn(image_bytes=tf.constant(jpegs[:1]))
    assert out["logits"].shape == (1, 1000) and np.isfinite(out["logits"].numpy()).all()


def test_png_and_decoded_images_signatures_agree(tf1_loaded):
    fns = tf1_loaded
    image = skimage.data.chelsea()
    png = tf.io.encode_png(image).numpy()
    from_bytes = fns["serving_default"](image_bytes=tf.constant([png]))["logits"].numpy()
    from_pixels = fns["serve_images"](images=tf.constant(image[None]))["logits"].numpy()
    np.testing.assert_allclose(from_bytes, from_pixels, atol=1e-5, rtol=0)


def test_warmup_records_replay(tf1_export, tf1_loaded):
    from tensorflow_serving.apis import prediction_log_pb2

    export_dir = tf1_export[1]
    path = os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests")
    fns = tf1_loaded
    seen = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        out = fns[request.model_spec.signature_name](**{k: tf.constant(v) for k, v in inputs.items()})
        assert out["logits"].shape == (1, 1000)
        seen.append(request.model_spec.signature_name)
    assert sorted(seen) == ["serve_images", "serving_default"]
    assert export.read_metadata(export_dir) == {"image_size": SIZE, "preprocessing": "tf1", "crop_padding": 32,
                                                "batch_splits": 2, "precision": "float32",
                                                "batch_norm_folded": False,
                                                "classes": "imagenet-1k sorted synsets"}


def test_export_rejects_headless_models_and_keeps_previous_export(tmp_path):
    previous = tmp_path / "serving" / "1"
    previous.mkdir(parents=True)
    (previous / "saved_model.pb").write_bytes(b"previous export")
    with pytest.raises(ValueError, match="include_top"):
        export.export_saved_model(readers.model_for_format("tf1", 50, include_top=False, block_counts=SMALL),
                                  str(previous), SIZE)
    assert (previous / "saved_model.pb").read_bytes() == b"previous export"
    assert os.listdir(tmp_path / "serving") == ["1"]


def _cli_export(checkpoint, fmt, export_dir, *extra):
    return run_python("tools/export_saved_model.py", f"--checkpoint={checkpoint}", f"--checkpoint_format={fmt}",
                      "--depth=50", f"--image_size={SIZE}", f"--export_dir={export_dir}", *extra)


def _assert_acceptance(served, reference):
    np.testing.assert_allclose(served["logits"], reference, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(served["classes"], np.argsort(-reference, -1)[:, :5])


@pytest.mark.slow  # a second RS-50 export (~60 s)
def test_acceptance_garden_cli_export_matches_reference(tmp_path, jpegs):
    """The Garden family, exported with its batch norms folded into the convolutions (the
    faster float32 serving, as ONNX Runtime runs): still the reference's logits and top-5."""
    prefix = str(tmp_path / "garden" / "ckpt-109200")
    layouts.write_garden(prefix, depth=50, seed=4)
    result = _cli_export(prefix, "garden", tmp_path / "export", "--fold_batch_norm")
    assert result.returncode == 0, result.stderr[-3000:]
    assert export.read_metadata(str(tmp_path / "export"))["batch_norm_folded"] is True
    served = _serve_in_fresh_process(str(tmp_path / "export"), jpegs, tmp_path)
    images = np.stack([layouts.reference_garden_preprocess(b, SIZE) for b in jpegs])
    reference = layouts.reference_logits(prefix, "garden", 50, images)
    _assert_acceptance(served, reference[:, 1:])  # the background column dropped (docs/fidelity.md #4)


@pytest.mark.slow  # saved_model_cli starts its own TensorFlow (~25 s)
def test_saved_model_cli_run(tf1_export, tf1_loaded, tmp_path):
    image = skimage.data.chelsea()[None]
    np.save(tmp_path / "x.npy", image)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = _run([cli, "run", "--dir", tf1_export[1], "--tag_set", "serve", "--signature_def", "serve_images",
                   "--inputs", f"images={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")])
    assert result.returncode == 0, result.stderr[-3000:]
    logits = np.load(tmp_path / "out" / "logits.npy")
    expected = tf1_loaded["serve_images"](images=tf.constant(image))
    np.testing.assert_allclose(logits, expected["logits"].numpy(), atol=1e-5, rtol=0)


def test_cli_errors_name_the_problem(tmp_path):
    result = _cli_export("resnet-rs-51-i160", "tf1", tmp_path / "export")
    assert result.returncode != 0 and "unknown official checkpoint name 'resnet-rs-51-i160'" in result.stderr
    assert not os.path.exists(tmp_path / "export")
    result = run_python("tools/export_saved_model.py", f"--checkpoint={tmp_path}/nothing",
                        "--checkpoint_format=tf1", "--depth=50", f"--export_dir={tmp_path / 'export'}")
    assert result.returncode != 0 and "--image_size is required" in result.stderr
    result = _cli_export(str(tmp_path / "nothing"), "tf2", tmp_path / "export")
    assert result.returncode != 0 and "checkpoint_format" in result.stderr


def test_fine_tuned_head_exports_with_its_own_class_names(tmp_path):
    model = small_model(num_classes=3, input_shape=(SIZE, SIZE, 3))
    with pytest.raises(ValueError, match="class_names has 2 entries but the model has 3"):
        export.export_saved_model(model, str(tmp_path / "bad"), SIZE, class_names=["a", "b"])
    assert not os.path.exists(tmp_path / "bad")
    fns = export.serving_functions(model, SIZE, class_names=["cat", "dog", "fox"])
    out = fns["serving_default"](tf.constant([_jpeg(skimage.data.chelsea())]))
    assert out["logits"].shape == (1, 3) and out["classes"].shape == (1, 3)
    names = [n.decode() for n in out["class_names"].numpy()[0]]
    assert names == [["cat", "dog", "fox"][i] for i in out["classes"].numpy()[0]]
    default = export.serving_functions(model, SIZE)["serve_images"](tf.constant(skimage.data.chelsea()[None]))
    assert sorted(n.decode() for n in default["class_names"].numpy()[0]) == ["0", "1", "2"]
