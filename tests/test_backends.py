"""The model and official.applications on every Keras 3 backend, against TensorFlow's numbers.

Keras picks its backend once, at import, so the other backend runs in a child process:
this file is also the worker (`KERAS_BACKEND=jax python tests/test_backends.py JOB.json`).
The parent (TensorFlow) writes real-format inputs (official-layout checkpoints from
tests/official_layouts.py, a trainer-layout checkpoint of a 4-class fine-tune, a `.keras`
file, real photographs), the worker loads and runs them with `official.applications` and
sends its outputs back, and the tests compare them with TensorFlow's and with the
independent `official_layouts.reference_logits` (1e-4).

The worker's top-level imports are the standard library and NumPy only, so it can
check that importing the library does not import TensorFlow. A worker run builds and
compiles a dozen models on a backend that starts cold (~1-3 min on 2 busy cores), so
every test that uses one is in the slow tier; the quick tier checks the import alone.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

SMALL = (1, 1, 1, 1)
SIZE = 64
ATOL = 1e-4
# The backends other than TensorFlow that this environment has (requirements.txt pins them).
OTHER_BACKENDS = [b for b, module in (("jax", "jax"), ("torch", "torch")) if importlib.util.find_spec(module)]


# ------------------------------------------------------------------------ the worker --
def _worker(job_path):
    """Runs the job under this process's KERAS_BACKEND; writes JSON facts and an .npz of outputs."""
    with open(job_path) as f:
        job = json.load(f)
    from official import applications  # first: does the library pull TensorFlow in?

    facts = {"tensorflow_after_import": "tensorflow" in sys.modules}
    from official.modeling import layers, resnet_rs
    facts["tensorflow_after_modeling"] = "tensorflow" in sys.modules
    import keras

    facts["backend"] = keras.backend.backend()
    facts["registered"] = keras.saving.get_registered_name(resnet_rs.ResNetRS)
    images = np.load(job["images"])
    normalised = applications.preprocess_input(images)
    out = {"preprocess_input": normalised}
    for name, kwargs in job["models"].items():
        model = applications.ResNetRS50(**kwargs)
        facts[f"{name}_output_shape"] = list(model.output.shape[1:])
        # An eager call: its per-op compilations are shared by all models, a predict() compiles each anew.
        x = images if kwargs.get("include_preprocessing", True) else normalised
        out[name] = keras.ops.convert_to_numpy(model(x, training=False))
    if "keras_file" in job:
        model = keras.saving.load_model(job["keras_file"])
        out["keras_file"] = keras.ops.convert_to_numpy(model(images, training=False))
    if "train" in job:
        keras.utils.set_random_seed(0)
        model = applications.ResNetRS50(classes=3, input_shape=(SIZE, SIZE, 3), block_counts=SMALL)
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
        labels = np.arange(len(images)) % 3
        history = model.fit(images, labels, batch_size=4, epochs=3, verbose=0)
        facts["losses"] = [float(v) for v in history.history["loss"]]
        out["trained"] = model.predict(images, verbose=0)
        model.save(job["train"])
        out["trained_reloaded"] = keras.saving.load_model(job["train"]).predict(images, verbose=0)
    if "batch_norm" in job:
        data = np.load(job["batch_norm"])
        bn = layers.BatchNorm(momentum=0.25, epsilon=1e-5)
        bn.build(data["x"].shape)
        bn.set_weights([data[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")])
        out["bn_inference"] = keras.ops.convert_to_numpy(bn(data["x"], training=False))
        out["bn_training"] = keras.ops.convert_to_numpy(bn(data["x"], training=True))
        out["bn_moving_mean"], out["bn_moving_variance"] = (keras.ops.convert_to_numpy(v) for v in
                                                           (bn.moving_mean, bn.moving_variance))
    facts["tensorflow_at_end"] = "tensorflow" in sys.modules
    np.savez(job["out"], **out)
    with open(job["facts"], "w") as f:
        json.dump(facts, f)


def run_worker(backend, job, tmp_path, timeout=600):
    """Runs `job` in a child process under `backend`; returns (facts, outputs)."""
    from conftest import ROOT, tool_env  # pylint: disable=import-outside-toplevel

    job = {**job, "out": str(tmp_path / f"{backend}_out.npz"), "facts": str(tmp_path / f"{backend}_facts.json")}
    path = tmp_path / f"{backend}_job.json"
    path.write_text(json.dumps(job))
    env = tool_env(KERAS_BACKEND=backend, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    with open(job["facts"]) as f:
        facts = json.load(f)
    with np.load(job["out"]) as data:
        return facts, dict(data)


# ------------------------------------------------------------------------ the parent --
def _photographs(size=SIZE):
    import photo_folders  # pylint: disable=import-outside-toplevel
    from PIL import Image  # pylint: disable=import-outside-toplevel

    names = ("astronaut", "chelsea", "coffee", "rocket")
    return np.stack([np.asarray(Image.fromarray(photo_folders.photograph(n)).resize((size, size), Image.BILINEAR))
                     for n in names]).astype("float32")


def write_native_checkpoint(root, family="tf1"):
    """A trainer-layout checkpoint (tf.train.Checkpoint(step, model, optimizer, ema) in workdir/checkpoints,
    with the workdir's model_config.json) of a 4-class fine-tune of the small model, averages != raw
    weights. As in the trainer's files, the trainable variables are saved under the optimizer's keys
    (`optimizer/_trainable_variables/N`, the shorter object path), the BN statistics under the model's.
    `family`'s architecture goes into model_config.json only (what a garden-family run records)."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from official import families  # pylint: disable=import-outside-toplevel
    from official.modeling import resnet_rs  # pylint: disable=import-outside-toplevel
    from official.training import ema as ema_lib  # pylint: disable=import-outside-toplevel

    model = resnet_rs.ResNetRS(50, block_counts=SMALL, num_classes=4, input_shape=(SIZE, SIZE, 3))
    ema = ema_lib.ExponentialMovingAverage(model)
    rng = np.random.default_rng(5)
    for average, variable in zip(ema.averages, ema.model_variables):
        noise = rng.uniform(0.9, 1.1, variable.shape).astype("float32")
        average.assign(keras_numpy(variable) * noise)     # every average differs from its raw weight
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    prefix = tf.train.Checkpoint(step=tf.Variable(7, dtype=tf.int64), model=model, optimizer=optimizer,
                                 ema=ema).write(
        os.path.join(root, "finetune", "checkpoints", "ckpt-7"))
    architecture = {k: v for k, v in families.get(family).architecture().items() if k != "num_classes"}
    with open(os.path.join(root, "finetune", "model_config.json"), "w") as f:
        json.dump({"model": {"depth": 50, "block_counts": list(SMALL), "se_ratio": 0.25, "num_classes": 4,
                             **architecture}, "image_size": SIZE}, f)
    return prefix


def keras_numpy(x):
    import keras  # pylint: disable=import-outside-toplevel
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Everything the workers read, written by TensorFlow in the official and our layouts."""
    import keras  # pylint: disable=import-outside-toplevel
    import official_layouts as layouts  # pylint: disable=import-outside-toplevel
    from official import applications  # pylint: disable=import-outside-toplevel

    root = tmp_path_factory.mktemp("backends")
    paths = {"images": str(root / "images.npy"), "tf1": str(root / "tf1" / "model.ckpt-1"),
             "garden": str(root / "garden" / "ckpt-1"), "keras_file": str(root / "tensorflow.keras"),
             "batch_norm": str(root / "batch_norm.npz")}
    np.save(paths["images"], _photographs())
    layouts.write_tf1(paths["tf1"], depth=SMALL)
    layouts.write_garden(paths["garden"], depth=SMALL)
    paths["native"] = write_native_checkpoint(str(root))
    model = applications.ResNetRS50(classes=5, classifier_activation=None, input_shape=(SIZE, SIZE, 3),
                                    block_counts=SMALL, bn_momentum=0.5)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.load(paths["images"]), np.arange(4) % 5, epochs=1, verbose=0)   # trained statistics
    model.save(paths["keras_file"])
    rng = np.random.default_rng(3)
    np.savez(paths["batch_norm"], x=rng.normal(2.0, 3.0, (4, 5, 5, 8)).astype("float32"),
             gamma=rng.uniform(0.5, 1.5, 8).astype("float32"), beta=rng.normal(0, 1, 8).astype("float32"),
             moving_mean=rng.normal(0, 1, 8).astype("float32"),
             moving_variance=rng.uniform(0.5, 2, 8).astype("float32"))
    return paths


def _models(paths):
    """The applications.ResNetRS50 calls every backend makes (kwargs by name)."""
    common = dict(block_counts=SMALL, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    models = {}
    for family in ("tf1", "garden"):
        models[f"{family}_preprocessing"] = dict(weights=paths[family], family=family, **common)
        models[f"{family}_normalised"] = dict(weights=paths[family], family=family, include_preprocessing=False,
                                              **common)
    models["native"] = dict(weights=paths["native"], **common)
    models["native_features"] = dict(weights=paths["native"], include_top=False, pooling="avg",
                                     block_counts=SMALL, input_shape=(SIZE, SIZE, 3))
    models["native_raw"] = dict(weights=paths["native"], ema=False, **common)
    models["keras_weights"] = dict(weights=paths["keras_file"], **common)
    return models


@pytest.fixture(scope="module", params=OTHER_BACKENDS)
def worker(request, files, tmp_path_factory):
    """(backend, facts, outputs) of one worker run that does every job below."""
    job = {"images": files["images"], "models": _models(files), "keras_file": files["keras_file"],
           "train": str(tmp_path_factory.mktemp("trained") / f"{request.param}.keras"),
           "batch_norm": files["batch_norm"]}
    facts, outputs = run_worker(request.param, job, tmp_path_factory.mktemp(request.param))
    return request.param, job, facts, outputs


@pytest.fixture(scope="module")
def tensorflow_outputs(files):
    """The same calls under TensorFlow (this process)."""
    from official import applications  # pylint: disable=import-outside-toplevel

    images = np.load(files["images"])
    normalised = applications.preprocess_input(images)
    return {name: applications.ResNetRS50(**kwargs).predict(
        images if kwargs.get("include_preprocessing", True) else normalised, verbose=0)
        for name, kwargs in _models(files).items()}


IMPORT_CHECK = """
import sys
from official import applications
after_applications = "tensorflow" in sys.modules
from official.modeling import layers, normalization, resnet_rs
import keras
print(keras.backend.backend(), after_applications, "tensorflow" in sys.modules,
      keras.saving.get_registered_object("resnet_rs>ResNetRS") is resnet_rs.ResNetRS,
      keras.saving.get_registered_object("resnet_rs>BatchNorm") is layers.BatchNorm)
sys.modules["tensorflow"] = None          # as if TensorFlow were not installed
try:
    applications.ResNetRS50(weights="resnet-rs-50-i160")
except ImportError as e:
    print(e)
"""


# Importing PyTorch alone takes ~15-30 s on 2 cores: its import check runs in the slow tier.
@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.slow) if b == "torch" else b
                                     for b in OTHER_BACKENDS])
def test_importing_the_library_imports_no_tensorflow_and_registers_the_model(backend):
    from conftest import run_python, tool_env  # pylint: disable=import-outside-toplevel

    done = run_python("-c", IMPORT_CHECK, env=tool_env(KERAS_BACKEND=backend), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    facts, error = done.stdout.splitlines()
    assert facts.split() == [backend, "False", "False", "True", "True"], done.stdout
    # Official and TensorFlow checkpoints need TensorFlow to be read, whatever the backend: said in one line.
    assert error.startswith("reading a TensorFlow checkpoint (weights='imagenet', an official name or a "
                            "checkpoint path) needs TensorFlow, on any Keras backend: pip install tensorflow"), error


@pytest.mark.slow
def test_worker_imports_no_tensorflow_before_reading_a_checkpoint(worker):
    backend, _, facts, _ = worker
    assert facts["backend"] == backend
    assert facts["tensorflow_after_import"] is False and facts["tensorflow_after_modeling"] is False
    assert facts["registered"] == "resnet_rs>ResNetRS"


@pytest.mark.slow  # a worker run (module fixture)
@pytest.mark.parametrize("family", ["tf1", "garden"])
def test_official_checkpoints_give_tensorflows_logits(worker, tensorflow_outputs, files, family):
    import official_layouts as layouts  # pylint: disable=import-outside-toplevel
    from official.modeling import normalization  # pylint: disable=import-outside-toplevel

    _, _, facts, outputs = worker
    images = np.load(files["images"])
    reference = layouts.reference_logits(files[family], family, SMALL, normalization.normalize(images).numpy())
    reference = reference[:, 1:] if family == "garden" else reference       # the background column
    for variant in ("preprocessing", "normalised"):
        name = f"{family}_{variant}"
        assert facts[f"{name}_output_shape"] == [1000]
        np.testing.assert_allclose(outputs[name], tensorflow_outputs[name], atol=ATOL, rtol=ATOL, err_msg=name)
        np.testing.assert_allclose(outputs[name], reference, atol=ATOL, rtol=ATOL, err_msg=name)
    assert np.ptp(reference) > 0.1          # logits that differ, not a constant


@pytest.mark.slow  # a worker run (module fixture)
def test_preprocess_input_is_the_same_on_every_backend(worker, files):
    from official.modeling import normalization  # pylint: disable=import-outside-toplevel

    want = normalization.normalize(np.load(files["images"])).numpy()
    np.testing.assert_array_equal(worker[3]["preprocess_input"], want)


@pytest.mark.slow  # a worker run (module fixture)
def test_native_fine_tune_reopens_with_its_classes_and_as_a_backbone(worker, tensorflow_outputs, files):
    from official.checkpoints import readers  # pylint: disable=import-outside-toplevel
    from official.modeling import normalization  # pylint: disable=import-outside-toplevel
    from official.modeling import resnet_rs  # pylint: disable=import-outside-toplevel

    _, _, facts, outputs = worker
    # The reference: the trainer's own reader (tf.train.Checkpoint) on the trainer's model.
    reference_model = resnet_rs.ResNetRS(50, block_counts=SMALL, num_classes=4, input_shape=(SIZE, SIZE, 3))
    readers.load_into(reference_model, files["native"], format="native")
    normalised = normalization.normalize(np.load(files["images"]))
    reference = reference_model(normalised).numpy()
    features = resnet_rs.endpoints(reference_model)(normalised)["pre_logits"].numpy()
    assert facts["native_output_shape"] == [4] and facts["native_features_output_shape"] == [2048]
    for got in (outputs, tensorflow_outputs):
        np.testing.assert_allclose(got["native"], reference, atol=ATOL, rtol=ATOL)
        np.testing.assert_allclose(got["native_features"], features, atol=ATOL, rtol=ATOL)
        assert np.abs(got["native_raw"] - reference).max() > 1e-3      # ema=False: the raw weights


@pytest.mark.slow  # a worker run (module fixture)
def test_keras_file_written_by_tensorflow_predicts_the_same(worker, files):
    import keras  # pylint: disable=import-outside-toplevel

    images = np.load(files["images"])
    want = keras.saving.load_model(files["keras_file"]).predict(images, verbose=0)
    np.testing.assert_allclose(worker[3]["keras_file"], want, atol=ATOL, rtol=ATOL)
    np.testing.assert_allclose(worker[3]["keras_weights"], want, atol=ATOL, rtol=ATOL)


@pytest.mark.slow  # a worker run (module fixture)
def test_fit_predict_save_on_the_backend_and_load_under_tensorflow(worker, files):
    import keras  # pylint: disable=import-outside-toplevel

    _, job, facts, outputs = worker
    losses = facts["losses"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    np.testing.assert_array_equal(outputs["trained_reloaded"], outputs["trained"])
    here = keras.saving.load_model(job["train"]).predict(np.load(files["images"]), verbose=0)
    np.testing.assert_allclose(here, outputs["trained"], atol=ATOL, rtol=ATOL)


@pytest.mark.slow  # a worker run (module fixture)
def test_batch_norm_gives_the_fused_ops_numbers(worker, files):
    """Off TensorFlow the batch norm runs in keras.ops: same outputs and the same UNBIASED moving
    variance as TensorFlow's FusedBatchNormV3, within float32 noise."""
    from official.modeling import layers  # pylint: disable=import-outside-toplevel

    outputs = worker[3]
    data = np.load(files["batch_norm"])
    bn = layers.BatchNorm(momentum=0.25, epsilon=1e-5)
    bn.build(data["x"].shape)
    bn.set_weights([data[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")])
    np.testing.assert_allclose(outputs["bn_inference"], bn(data["x"], training=False), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(outputs["bn_training"], bn(data["x"], training=True), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(outputs["bn_moving_mean"], bn.moving_mean.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(outputs["bn_moving_variance"], bn.moving_variance.numpy(), atol=1e-5, rtol=1e-5)
    n = 4 * 5 * 5
    unbiased = data["x"].reshape(-1, 8).var(axis=0) * n / (n - 1)
    np.testing.assert_allclose(outputs["bn_moving_variance"], 0.25 * data["moving_variance"] + 0.75 * unbiased,
                               rtol=1e-4)


# ------------------------------------------------------------------- the published shapes --
@pytest.mark.slow  # RS-50 checkpoints of both families, eight RS-50 models over two processes (~2 min)
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_rs50_official_checkpoints_give_tensorflows_logits_at_160(backend, tmp_path):
    """The acceptance check: ResNetRS50(weights=<TF1 or Garden checkpoint>, input_shape=(160, 160, 3),
    classifier_activation=None) gives TensorFlow's logits on the other backend, with and without
    include_preprocessing."""
    import official_layouts as layouts  # pylint: disable=import-outside-toplevel
    from official import applications  # pylint: disable=import-outside-toplevel

    paths = {"tf1": str(tmp_path / "tf1" / "model.ckpt-1"), "garden": str(tmp_path / "garden" / "ckpt-1")}
    layouts.write_tf1(paths["tf1"], depth=50)
    layouts.write_garden(paths["garden"], depth=50)
    images_path = str(tmp_path / "images.npy")
    np.save(images_path, _photographs(160)[:2])
    models = {f"{family}_{pre}": dict(weights=paths[family], family=family, input_shape=(160, 160, 3),
                                      classifier_activation=None, include_preprocessing=pre == "preprocessing")
              for family in ("tf1", "garden") for pre in ("preprocessing", "normalised")}
    _, outputs = run_worker(backend, {"images": images_path, "models": models}, tmp_path)
    images = np.load(images_path)
    normalised = applications.preprocess_input(images)
    for name, kwargs in models.items():
        want = applications.ResNetRS50(**kwargs).predict(images if kwargs["include_preprocessing"] else normalised,
                                                         verbose=0)
        np.testing.assert_allclose(outputs[name], want, atol=ATOL, rtol=ATOL, err_msg=name)


if __name__ == "__main__":
    _worker(sys.argv[1])
