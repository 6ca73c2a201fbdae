"""official.applications: keras.applications-style constructors, the plain Keras workflow, weights."""

import numpy as np
import pytest
import keras
import tensorflow as tf

import official_layouts as layouts
import photo_folders
from official import applications
from official.checkpoints import readers
from official.data import preprocessing
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
    expected = reference(preprocessing.normalize(raw)).numpy()
    logits = applications.ResNetRS50(weights=prefix, family=family, classifier_activation=None)
    np.testing.assert_array_equal(logits(raw).numpy(), expected)           # normalised inside, same ops
    probabilities = applications.ResNetRS50(weights=prefix, family=family, include_preprocessing=False)
    np.testing.assert_allclose(probabilities(preprocessing.normalize(raw)), tf.nn.softmax(expected), atol=1e-7)
    features = applications.ResNetRS50(weights=prefix, family=family, include_top=False, pooling="avg")
    np.testing.assert_array_equal(features(raw).numpy(),
                                  resnet_rs.endpoints(reference)(preprocessing.normalize(raw))["pre_logits"])


def test_bad_arguments_are_named_before_anything_is_built_or_downloaded(official_files, tmp_path):
    with pytest.raises(ValueError, match=r"weights='resnet-rs-51-i160'.*resnet-rs-50-i160, resnet-rs-101-i160"):
        applications.ResNetRS50(weights="resnet-rs-51-i160")
    with pytest.raises(ValueError, match="needs classes=1000.*classes=10"):
        applications.ResNetRS50(weights="imagenet", classes=10)
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
