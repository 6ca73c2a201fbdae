"""official.applications: keras.applications-style constructors, the plain Keras workflow, weights."""

import os

import numpy as np
import pytest
import keras
import tensorflow as tf

import official_layouts as layouts
import photo_folders
from official import applications
from official.checkpoints import readers
from official.data import imagenet_classes
from official.modeling import normalization
from official.modeling import resnet_rs

SMALL = dict(block_counts=(1, 1, 1, 1))
SIZE = 64


def _pipeline(jpegs, labels, batch_size, shuffle=False, size=SIZE):
    """tf.data of decoded real JPEGs, 0..255 RGB floats (the models normalise inside)."""
    ds = tf.data.Dataset.from_tensor_slices((jpegs, labels))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=0)

    def decode(data, label):
        image = tf.image.resize(tf.io.decode_jpeg(data, channels=3), [size, size])
        return image, label

    return ds.map(decode).batch(batch_size)


def test_compile_fit_evaluate_predict_on_real_jpegs():
    keras.utils.set_random_seed(0)
    jpegs, labels = photo_folders.jpeg_dataset(per_class=6, seed=0, size=48)
    model = applications.ResNetRS50(classes=3, input_shape=(32, 32, 3), **SMALL)
    assert model.get_config()["bn_momentum"] == applications.DEFAULT_BN_MOMENTUM
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(_pipeline(jpegs, labels, 6, shuffle=True, size=32), epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    metrics = model.evaluate(_pipeline(jpegs, labels, 6, size=32), verbose=0, return_dict=True)
    assert set(metrics) >= {"loss", "accuracy"}
    predicted = model.predict(_pipeline(jpegs, labels, 6, size=32), verbose=0)
    assert isinstance(predicted, np.ndarray) and predicted.shape == (len(labels), 3)
    np.testing.assert_allclose(predicted.sum(-1), 1.0, atol=1e-5)    # softmax by default


def test_keras_file_and_model_export_round_trips_give_identical_logits(tmp_path):
    model = applications.ResNetRS50(classes=5, classifier_activation=None, input_shape=(SIZE, SIZE, 3),
                                    **SMALL)
    x = np.random.default_rng(0).uniform(0, 255, size=(3, SIZE, SIZE, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, resnet_rs.ResNetRS)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    model.export(str(tmp_path / "exported"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))
    served = reloaded.serve(tf.constant(x)).numpy()
    np.testing.assert_array_equal(served, expected)


def test_features_pooling_and_endpoints_share_the_weights():
    x = np.random.default_rng(1).uniform(0, 255, size=(2, SIZE, SIZE, 3)).astype("float32")
    feature_map = applications.ResNetRS50(include_top=False, input_shape=(SIZE, SIZE, 3), **SMALL)
    assert tuple(feature_map(x).shape) == (2, 2, 2, 2048)
    pooled = applications.ResNetRS50(include_top=False, pooling="max", input_shape=(SIZE, SIZE, 3), **SMALL)
    pooled.set_weights(feature_map.get_weights())
    np.testing.assert_allclose(pooled(x), np.max(feature_map(x), axis=(1, 2)), rtol=0, atol=0)
    classifier = applications.ResNetRS50(classes=4, input_shape=(SIZE, SIZE, 3), **SMALL)
    outputs = resnet_rs.endpoints(classifier)(x)
    assert sorted(outputs) == ["logits", "pre_logits", "stage2", "stage3", "stage4", "stage5", "stem"]
    np.testing.assert_allclose(keras.ops.softmax(outputs["logits"]), classifier(x), atol=1e-6)
    assert resnet_rs.endpoints(classifier).get_layer("stem_conv1") is classifier.get_layer("stem_conv1")


@pytest.fixture(scope="module")
def official_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    tf1 = str(root / "tf1" / "model.ckpt-1")
    layouts.write_tf1(tf1, depth=50)
    garden = str(root / "garden" / "ckpt-1")
    layouts.write_garden(garden, depth=50)
    return {"tf1": tf1, "garden": garden}


@pytest.mark.slow  # two RS-50 checkpoints and six RS-50 models (~60 s)
@pytest.mark.parametrize("family", ["tf1", "garden"])
def test_weights_file_in_each_official_layout_gives_checkpoints_load_logits(official_files, family):
    prefix = official_files[family]
    reference = readers.load(prefix, format=family, depth=50)
    raw = np.stack([tf.image.resize(tf.io.decode_jpeg(b), [160, 160]).numpy()
                    for b in photo_folders.jpeg_dataset(per_class=1, seed=3)[0]])
    expected = reference(normalization.normalize(raw)).numpy()
    logits = applications.ResNetRS50(weights=prefix, family=family, classifier_activation=None)
    np.testing.assert_array_equal(logits(raw).numpy(), expected)           # normalised inside, same ops
    probabilities = applications.ResNetRS50(weights=prefix, family=family, include_preprocessing=False)
    np.testing.assert_allclose(probabilities(normalization.normalize(raw)), tf.nn.softmax(expected), atol=1e-7)
    features = applications.ResNetRS50(weights=prefix, family=family, include_top=False, pooling="avg")
    np.testing.assert_array_equal(features(raw).numpy(),
                                  resnet_rs.endpoints(reference)(normalization.normalize(raw))["pre_logits"])


def test_bad_arguments_are_named_before_anything_is_built_or_downloaded(official_files, tmp_path):
    with pytest.raises(ValueError, match=r"weights='resnet-rs-51-i160'.*resnet-rs-50-i160, resnet-rs-101-i160"):
        applications.ResNetRS50(weights="resnet-rs-51-i160")
    with pytest.raises(ValueError, match="classes=10 does not match weights='imagenet', whose head has 1000"):
        applications.ResNetRS50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="classes=3 needs include_top=True"):
        applications.ResNetRS50(weights="imagenet", include_top=False, classes=3)
    with pytest.raises(ValueError, match="ema=False applies to TensorFlow checkpoints"):
        applications.ResNetRS50(ema=False, **SMALL)
    with pytest.raises(ValueError, match="cache_dir= is where official checkpoints"):
        applications.ResNetRS50(weights=official_files["tf1"], cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="pooling='max' needs include_top=False"):
        applications.ResNetRS50(pooling="max", **SMALL)
    with pytest.raises(ValueError, match=r"input_shape=\(16, 16, 3\) is too small.*at least 32"):
        applications.ResNetRS50(input_shape=(16, 16, 3), **SMALL)
    with pytest.raises(ValueError, match="ResNet-RS-50 checkpoint; this is ResNet-RS-101"):
        applications.ResNetRS101(weights="resnet-rs-50-i160")
    with pytest.raises(ValueError, match="Model Garden published no"):
        applications.ResNetRS420(weights="imagenet", family="garden")
    with pytest.raises(ValueError, match="family must be one of .*got 'keras'"):
        applications.ResNetRS50(family="keras")
    with pytest.raises(ValueError, match="tf1-family checkpoint but family='garden'"):
        applications.ResNetRS50(weights=official_files["tf1"], family="garden")
    with pytest.raises(ValueError, match="garden-family checkpoint but family='tf1'"):
        applications.ResNetRS50(weights=official_files["garden"])
    assert not any(tmp_path.iterdir())


def test_imagenet_picks_the_published_checkpoint_of_the_depth():
    assert applications.imagenet_checkpoint(50) == "resnet-rs-50-i160"
    assert applications.imagenet_checkpoint(152) == "resnet-rs-152-i256"
    assert applications.imagenet_checkpoint(152, 224) == "resnet-rs-152-i224"
    assert applications.imagenet_checkpoint(350, 999) == "resnet-rs-350-i320"
    assert "resnet-rs-420-i320" not in applications.valid_weights("garden")
    assert [applications.ResNetRS270.__name__, applications.ResNetRS420.__name__] == ["ResNetRS270",
                                                                                      "ResNetRS420"]


def test_every_argument_is_used_or_refused_by_name():
    with pytest.raises(TypeError, match=r"ResNetRS50 got unexpected argument\(s\) input_tensr=, wieghts="):
        applications.ResNetRS50(wieghts="imagenet", input_tensr=None)
    with pytest.raises(TypeError, match="ResNetRS101 takes no num_classes= .it is classes="):
        applications.ResNetRS101(num_classes=7)
    # The bare builder's named variants: no weights or classes, and a pointer at this module.
    with pytest.raises(TypeError, match="takes no classes= or weights=.*official.applications.ResNetRS50"):
        resnet_rs.ResNetRS50(weights="imagenet", classes=7)
    with pytest.raises(TypeError, match="unexpected argument.*weights=.*official.applications"):
        resnet_rs.ResNetRS(50, weights="imagenet")
    # classes: 1000 without weights (keras.applications' default), or as asked.
    assert applications.ResNetRS50(input_shape=(SIZE, SIZE, 3), **SMALL).output.shape[-1] == 1000
    assert applications.ResNetRS50(classes=7, input_shape=(SIZE, SIZE, 3), **SMALL).output.shape[-1] == 7


def test_input_tensor_builds_on_the_given_tensor_and_saves_the_layers_before_it(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3), name="pixels")
    darker = keras.layers.Rescaling(0.5, name="darker")(inputs)
    model = applications.ResNetRS50(input_tensor=darker, classes=3, classifier_activation=None, **SMALL)
    assert model.inputs == [inputs] and model.get_layer("darker") is darker._keras_history.operation
    x = np.random.default_rng(2).uniform(0, 255, size=(2, SIZE, SIZE, 3)).astype("float32")
    plain = applications.ResNetRS50(classes=3, classifier_activation=None, input_shape=(SIZE, SIZE, 3), **SMALL)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model(x), plain(x * 0.5), atol=1e-5)      # the rescaling is part of the model
    direct = applications.ResNetRS50(input_tensor=inputs, classes=3, **SMALL)
    assert direct.inputs == [inputs]
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(again, resnet_rs.ResNetRS) and again.get_layer("darker").scale == 0.5
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"input_shape=\(32, 32, 3\) does not match input_tensor's shape"):
        applications.ResNetRS50(input_tensor=inputs, input_shape=(32, 32, 3), **SMALL)
    with pytest.raises(TypeError, match="input_tensor must be a Keras tensor"):
        applications.ResNetRS50(input_tensor=np.zeros((1, SIZE, SIZE, 3)), **SMALL)


def test_native_fine_tune_reopens_with_its_own_classes_and_as_a_backbone(tmp_path):
    from test_backends import write_native_checkpoint

    prefix = write_native_checkpoint(str(tmp_path))
    reference = resnet_rs.ResNetRS(50, num_classes=4, input_shape=(SIZE, SIZE, 3), **SMALL)
    readers.load_into(reference, prefix, format="native")             # the trainer's tf.train.Checkpoint reader
    x = np.random.default_rng(4).uniform(0, 255, size=(2, SIZE, SIZE, 3)).astype("float32")
    want = reference(normalization.normalize(x)).numpy()
    for classes in (None, 4):
        model = applications.ResNetRS50(weights=prefix, classes=classes, classifier_activation=None, **SMALL)
        np.testing.assert_allclose(model(x), want, atol=1e-5)
    directory = applications.ResNetRS50(weights=os.path.dirname(prefix), classifier_activation=None, **SMALL)
    np.testing.assert_allclose(directory(x), want, atol=1e-5)
    features = applications.ResNetRS50(weights=prefix, include_top=False, pooling="avg", **SMALL)
    np.testing.assert_allclose(features(x), resnet_rs.endpoints(reference)(normalization.normalize(x))["pre_logits"],
                               atol=1e-5)
    with pytest.raises(ValueError, match="classes=7 does not match weights=.*whose head has 4 classes"):
        applications.ResNetRS50(weights=prefix, classes=7, **SMALL)
    with pytest.raises(ValueError, match=r"block_counts=\(1, 1, 1, 1\), this one has block_counts=\(3, 4, 6, 3\)"):
        applications.ResNetRS50(weights=prefix)
    garden_run = write_native_checkpoint(str(tmp_path / "garden_run"), family="garden")
    with pytest.raises(ValueError, match="activation='swish', this one has activation='relu': pass family='garden'"):
        applications.ResNetRS50(weights=garden_run, **SMALL)


def test_keras_weights_files_load_with_their_classes_on_any_head(tmp_path):
    model = applications.ResNetRS50(classes=4, classifier_activation=None, input_shape=(SIZE, SIZE, 3), **SMALL)
    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(6).uniform(0, 255, size=(2, SIZE, SIZE, 3)).astype("float32")
    for path in ("m.weights.h5", "m.keras"):
        again = applications.ResNetRS50(weights=str(tmp_path / path), classifier_activation=None, **SMALL)
        assert again.output.shape[-1] == 4
        np.testing.assert_array_equal(again(x), model(x))
    backbone = applications.ResNetRS50(weights=str(tmp_path / "m.weights.h5"), include_top=False, **SMALL)
    for layer in backbone.layers:
        for mine, theirs in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(ValueError, match="classes=5 does not match"):
        applications.ResNetRS50(weights=str(tmp_path / "m.weights.h5"), classes=5, **SMALL)
    with pytest.raises(ValueError, match="holds a model with depth=50, this one has depth=101: use ResNetRS50"):
        applications.ResNetRS101(weights=str(tmp_path / "m.keras"), **SMALL)
    with pytest.raises(ValueError, match="no such file"):
        applications.ResNetRS50(weights=str(tmp_path / "missing.keras"))


def test_preprocess_input_is_the_models_own_normalisation():
    x = np.random.default_rng(7).uniform(0, 255, size=(2, SIZE, SIZE, 3)).astype("float32")
    normalised = applications.preprocess_input(x)
    assert isinstance(normalised, np.ndarray) and normalised.dtype == np.float32
    np.testing.assert_array_equal(normalised, normalization.normalize(x).numpy())
    np.testing.assert_array_equal(applications.preprocess_input(x.astype("uint8")),
                                  normalization.normalize(x.astype("uint8")).numpy())
    inside = applications.ResNetRS50(input_shape=(SIZE, SIZE, 3), classifier_activation=None, **SMALL)
    outside = applications.ResNetRS50(input_shape=(SIZE, SIZE, 3), classifier_activation=None,
                                      include_preprocessing=False, **SMALL)
    outside.set_weights(inside.get_weights())
    np.testing.assert_array_equal(outside(normalised), inside(x))
    with pytest.raises(ValueError, match="channels_last images only"):
        applications.preprocess_input(x, data_format="channels_first")
    with pytest.raises(ValueError, match=r"RGB images \[..., H, W, 3\], got shape \(2, 3, 64, 64\)"):
        applications.preprocess_input(x.transpose(0, 3, 1, 2))


def test_decode_predictions_gives_keras_tuples_best_first():
    preds = np.full((2, 1000), 1e-4, "float32")
    preds[0, 388], preds[0, 0], preds[1, 999] = 0.9, 0.05, 0.7
    decoded = applications.decode_predictions(preds, top=2)
    assert [len(d) for d in decoded] == [2, 2]
    assert decoded[0][0][:2] == ("n02510455", "giant panda") and decoded[0][0][2] == pytest.approx(0.9)
    assert decoded[0][1][:2] == ("n01440764", "tench")
    assert decoded[1][0][0] == imagenet_classes.synsets()[999]
    assert len(applications.decode_predictions(preds)[0]) == 5
    with pytest.raises(ValueError, match=r"\[N, 1000\] ImageNet predictions, got shape \(2, 4\)"):
        applications.decode_predictions(np.zeros((2, 4)))
