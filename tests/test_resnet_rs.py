"""Structure goldens and behaviour of the ResNet-RS model (docs/fidelity.md: architecture, the seventeen silent mistakes)."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from conftest import SMALL, small_model
from official.modeling import layers
from official.modeling import resnet_rs

# Parameter counts (trainable, 1000 classes; + BN moving statistics) and TF1 variable counts
# (docs/fidelity.md: parameter counts, TF1 checkpoints).
PARAMS = {
    50: (35_691_912, 35_745_288, 234, 346),
    101: (63_618_696, 63_724_296, 455, 669),
    152: (86_621_576, 86_773_256, 676, 992),
    200: (93_209_992, 93_386_248, 884, 1296),
    270: (129_861_448, 130_104_520, 1196, 1752),
    350: (163_956_168, 164_268_360, 1534, 2246),
    420: (191_891_656, 192_262_216, 1833, 2683),
}


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


@pytest.mark.parametrize("depth", [50, 101, pytest.param(152, marks=pytest.mark.slow),
                                   pytest.param(200, marks=pytest.mark.slow),
                                   pytest.param(270, marks=pytest.mark.slow),
                                   pytest.param(350, marks=pytest.mark.slow),
                                   pytest.param(420, marks=pytest.mark.slow)])
def test_parameter_and_variable_counts_match_published(depth):
    model = resnet_rs.ResNetRS(depth)
    trainable, total, n_trainable, n_weights = PARAMS[depth]
    assert _count(model.trainable_weights) == trainable
    assert model.count_params() == total
    assert len(model.trainable_weights) == n_trainable
    assert len(model.weights) == n_weights
    assert len(model.weights) == 42 + 19 * sum(resnet_rs.SPECS[depth])


@pytest.fixture(scope="module")
def garden50():
    return resnet_rs.from_family("garden", 50)


def test_garden_family_has_1001_logits_and_same_trainable_count_plus_head(garden50):
    model = garden50
    # docs/fidelity.md (parameter counts): Garden trainable (1001 classes) 35,693,961.
    assert _count(model.trainable_weights) == 35_693_961
    assert model.count_params() == 35_747_337


def _forward_flops(model, size):
    """2 x multiply-adds of every conv (incl. SE) and the dense layer at `size`."""
    sub = keras.Model(model.input, [l.output for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))])
    shapes = [o.shape for o in sub.compute_output_spec(keras.KerasTensor((1, size, size, 3)))]
    flops = 0
    for layer, shape in zip([l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))], shapes):
        kernel = layer.kernel.shape
        out_positions = int(np.prod(shape[1:-1])) if len(shape) == 4 else 1
        flops += 2 * out_positions * int(np.prod(kernel))
    return flops


@pytest.fixture(scope="module")
def rs50():
    return resnet_rs.ResNetRS50(dropout_rate=0.0)


def test_forward_flops_rs50_at_160_within_one_percent(rs50):
    flops = _forward_flops(rs50, 160)
    assert abs(flops / 4.567e9 - 1) < 0.01, flops


def test_squeeze_excite_width_biases_and_activations(rs50):
    swish = resnet_rs.ResNetRS(50, block_counts=(2, 2, 2, 2), activation="swish")
    for model in (rs50, swish):
        for stage, f in zip(resnet_rs.STAGES, resnet_rs.STAGE_FILTERS):
            reduce = model.get_layer(f"stage{stage}_block1_se_reduce")
            expand = model.get_layer(f"stage{stage}_block1_se_expand")
            # docs/fidelity.md (squeeze-excite, #5): squeeze to int(0.25 x 4f) = f, from the block OUTPUT width.
            assert tuple(reduce.kernel.shape) == (1, 1, 4 * f, f)
            assert tuple(expand.kernel.shape) == (1, 1, f, 4 * f)
            assert reduce.use_bias and expand.use_bias
            assert reduce.activation is keras.activations.relu  # ReLU even in swish models
            assert expand.activation is keras.activations.sigmoid
    # Only the SE convs carry biases.
    biased = [l.name for l in rs50.layers if isinstance(l, keras.layers.Conv2D) and l.use_bias]
    assert all(n.endswith(("_se_reduce", "_se_expand")) for n in biased)
    assert len(biased) == 2 * 16


def test_se_is_applied_after_last_bn_and_before_residual_add(rs50):
    add = rs50.get_layer("stage2_block1_add")
    producers = {t._keras_history.operation.name for t in add.input}
    assert producers == {"stage2_block1_se_excite", "stage2_block0_out"}
    excite = rs50.get_layer("stage2_block1_se_excite")
    assert {t._keras_history.operation.name for t in excite.input} == {"stage2_block1_bn3", "stage2_block1_se_expand"}


def test_first_block_of_every_stage_has_a_projection_and_stage2_has_no_pool_in_tf1(rs50):
    names = {l.name for l in rs50.layers}
    for stage in resnet_rs.STAGES:
        assert f"stage{stage}_block0_shortcut_conv" in names
        assert f"stage{stage}_block1_shortcut_conv" not in names
    # docs/fidelity.md #6: TF1 uses a plain 1x1 projection in the stride-1 first stage.
    assert "stage2_block0_shortcut_pool" not in names
    assert rs50.get_layer("stage3_block0_shortcut_pool").strides == (2, 2)


def test_garden_stage2_shortcut_smooths_with_stride1_pool():
    model = resnet_rs.from_family("garden", 50, block_counts=SMALL)
    pool = model.get_layer("stage2_block0_shortcut_pool")
    assert pool.strides == (1, 1) and pool.padding == "same"
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 64)).astype("float32")
    y = keras.ops.convert_to_numpy(pool(x))
    # TF SAME average pooling excludes the padded cells (docs/fidelity.md: bottleneck): last row/column average fewer cells.
    expected = np.zeros_like(x)
    for i in range(6):
        for j in range(6):
            expected[0, i, j] = x[0, i:i + 2, j:j + 2].reshape(-1, 64).mean(0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["fixed", "same"])
def test_strided_conv_padding_matches_official_rule(padding):
    model = small_model(padding=padding, include_top=False)
    sub = keras.Model(model.input, model.get_layer("stem_conv1").output)
    x = np.random.default_rng(1).normal(size=(1, 16, 16, 3)).astype("float32")
    kernel = model.get_layer("stem_conv1").kernel
    fixed = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), kernel, 2, "VALID")  # TF1, docs/fidelity.md (convolutions)
    same = tf.nn.conv2d(x, kernel, 2, "SAME")  # Keras/Garden
    got = sub(x)
    np.testing.assert_allclose(got, fixed if padding == "fixed" else same, rtol=1e-5, atol=1e-5)
    # The two rules really differ on even inputs (one-pixel shift, docs/fidelity.md #2).
    assert not np.allclose(fixed, same, atol=1e-3)


def test_only_the_strided_convs_are_padded(rs50):
    padded = sorted(l.name[:-4] for l in rs50.layers if isinstance(l, keras.layers.ZeroPadding2D))
    assert padded == sorted(["stem_conv1", "stem_conv4", "stage3_block0_conv2", "stage4_block0_conv2",
                             "stage5_block0_conv2"])


def test_stochastic_depth_rates_are_per_stage():
    # The rule depends on the stage, not on the depth: two blocks per stage show it.
    model = resnet_rs.ResNetRS(200, block_counts=(2, 2, 2, 2), drop_connect_rate=0.1)
    for stage, expected in zip(resnet_rs.STAGES, (0.04, 0.06, 0.08, 0.10)):
        found = [l.rate for l in model.layers
                 if isinstance(l, layers.StochasticDepth) and l.name.startswith(f"stage{stage}_")]
        assert found == [pytest.approx(expected)] * 2, stage
    rates = resnet_rs.drop_rates(200, 0.1)     # and the published RS-200's block counts
    assert [len(r) for r in rates] == [3, 24, 36, 3]
    assert all(r == [pytest.approx(e)] * len(r) for r, e in zip(rates, (0.04, 0.06, 0.08, 0.10)))
    per_block = resnet_rs.drop_rates(200, 0.1, "per_block")
    flat = [r for stage in per_block for r in stage]
    assert flat[0] == 0 and flat[-1] == pytest.approx(0.1) and flat == sorted(flat)
    assert len(set(flat)) == len(flat)


def test_batch_norm_settings_and_zero_init_last_gamma(rs50, garden50):
    for layer in rs50.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.epsilon == 1e-5 and layer.momentum == 0.0
            gamma = keras.ops.convert_to_numpy(layer.gamma)
            if layer.name.startswith("stage") and layer.name.endswith("_bn3"):
                assert not gamma.any(), layer.name
            else:
                assert (gamma == 1).all(), layer.name
    assert (keras.ops.convert_to_numpy(garden50.get_layer("stage2_block0_bn3").gamma) == 1).all()


def test_activation_choice_reaches_every_position():
    model = small_model(activation="swish")
    acts = [l for l in model.layers if isinstance(l, keras.layers.Activation)]
    assert len(acts) == 4 + 4 * 3  # stem, conv1/conv2 of every block, post-add
    assert all(l.activation is keras.activations.swish for l in acts)


def test_training_and_inference_differ_only_in_bn_dropout_and_stochastic_depth():
    x = np.random.default_rng(2).normal(size=(4, 64, 64, 3)).astype("float32")
    plain = small_model(dropout_rate=0.0, zero_init_last_bn=False)
    # Inference is deterministic.
    before = plain(x)
    np.testing.assert_array_equal(before, plain(x))
    # Training mode without dropout/stochastic depth is deterministic but uses batch statistics.
    t1 = plain(x, training=True)
    t2 = plain(x, training=True)
    np.testing.assert_array_equal(t1, t2)
    assert not np.allclose(t1, before)
    # bn_momentum 0: after a training call the moving mean IS the last batch's mean (docs/fidelity.md: batch norm).
    stem = keras.Model(plain.input, plain.get_layer("stem_conv1").output)
    batch_mean = keras.ops.convert_to_numpy(stem(x)).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(plain.get_layer("stem_bn1").moving_mean, batch_mean, rtol=1e-4, atol=1e-5)
    # Setting the moving variance back to the biased batch variance makes inference on
    # that same batch reproduce training mode exactly: BN is the only difference.
    bns = [l for l in plain.layers if isinstance(l, layers.BatchNorm)]
    for layer, inp in zip(bns, keras.Model(plain.input, [l.input for l in bns])(x, training=True)):
        layer.moving_variance.assign(keras.ops.var(inp, axis=(0, 1, 2)))
    np.testing.assert_allclose(plain(x), t1, rtol=1e-3, atol=1e-3)
    # With batch-norm in inference mode after that, training differs from inference
    # only through the random layers: dropout and stochastic depth.
    noisy = small_model(dropout_rate=0.5, drop_connect_rate=0.5)
    np.testing.assert_array_equal(noisy(x), noisy(x))
    a, b = noisy(x, training=True), noisy(x, training=True)
    assert not np.allclose(a, b)


def test_stochastic_depth_layer_math():
    layer = layers.StochasticDepth(0.5, seed=3)
    x = np.ones((256, 2, 2, 1), "float32")
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    per_example = y.reshape(256, -1)
    # Each example is all-dropped or all-kept and scaled by 1/keep_prob.
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert (per_example.min(1) == per_example.max(1)).all()
    assert 0.35 < (per_example[:, 0] == 2.0).mean() < 0.65
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_include_top_false_gives_endpoints_without_logits():
    model = small_model(include_top=False)
    assert tuple(model(np.zeros((2, 96, 64, 3), "float32")).shape) == (2, 3, 2, 2048)   # pooling=None
    out = resnet_rs.endpoints(model)(np.zeros((2, 96, 64, 3), "float32"))
    assert "logits" not in out
    assert tuple(out["stem"].shape) == (2, 24, 16, 64)
    assert tuple(out["stage2"].shape) == (2, 24, 16, 256)
    assert tuple(out["stage5"].shape) == (2, 3, 2, 2048)
    assert tuple(out["pre_logits"].shape) == (2, 2048)
    assert all(not w.name.startswith("logits") for w in model.weights)


def test_config_round_trip_and_keras_file_is_bit_identical(tmp_path):
    model = small_model(activation="swish", padding="same", num_classes=10, dropout_rate=0.1,
                        drop_connect_rate=0.2)
    clone = resnet_rs.ResNetRS.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    x = np.random.default_rng(4).normal(size=(2, 64, 64, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, resnet_rs.ResNetRS)
    np.testing.assert_array_equal(model(x), loaded(x))
    for key in ("logits", "stage3", "pre_logits"):
        np.testing.assert_array_equal(resnet_rs.endpoints(model)(x)[key], resnet_rs.endpoints(loaded)(x)[key])


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_gives_float32_logits(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = small_model(num_classes=10)
        out = resnet_rs.endpoints(model)(np.zeros((1, 64, 64, 3), "float32"))
        assert out["logits"].dtype == "float32"
        assert out["stage5"].dtype == policy.split("_")[1]
        assert model.get_layer("stem_conv1").kernel.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("kwargs, word", [
    (dict(depth=34), "depth"),
    (dict(activation="gelu"), "activation"),
    (dict(padding="valid"), "padding"),
    (dict(input_shape=(64, 64, 1)), "input_shape"),
    (dict(dropout_rate=1.0), "dropout_rate"),
    (dict(drop_connect_rate=-0.1), "drop_connect_rate"),
    (dict(bn_momentum=1.5), "bn_momentum"),
    (dict(stochastic_depth="per_layer"), "stochastic_depth"),
    (dict(pooling="max"), "pooling='max' needs include_top=False"),
    (dict(include_top=False, classifier_activation="softmax"), "classifier_activation='softmax' needs include_top"),
])
def test_bad_arguments_name_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        resnet_rs.ResNetRS(**kwargs)


def test_unknown_arguments_are_refused_by_name():
    # Keras' Model would take (and drop) some of these; the builder names every one.
    with pytest.raises(TypeError, match="ResNetRS got unexpected argument.s. dtype=, num_class="):
        resnet_rs.ResNetRS(50, num_class=10, dtype="float16")
    with pytest.raises(TypeError, match="ResNetRS152 takes no weights=: .*use official.applications.ResNetRS152"):
        resnet_rs.ResNetRS152(weights="imagenet")


def test_named_variants_and_layer_order_table(rs50):
    # (The published RS-101 itself is built by the parameter-count test.)
    for depth in (101, 420):
        variant = getattr(resnet_rs, f"ResNetRS{depth}")(block_counts=SMALL, include_top=False)
        assert variant.depth == depth and variant.name == f"resnet_rs_{depth}"
    for model, counts in ((rs50, None), (small_model(), SMALL)):
        names = resnet_rs.block_layer_names(50, counts)
        model_names = [l.name for l in model.layers if l.weights and not isinstance(l, keras.layers.Dropout)]
        assert sorted(names) == sorted(model_names)
        assert len(names) == len(set(names))


def test_fused_batch_norm_equals_plain_ops_and_keras():
    x = np.random.default_rng(5).normal(1.0, 2.0, size=(4, 6, 6, 8)).astype("float32")
    fused, plain = layers.BatchNorm(fused=True, momentum=0.0, epsilon=1e-5), layers.BatchNorm(fused=False, momentum=0.0, epsilon=1e-5)
    reference = keras.layers.BatchNormalization(momentum=0.0, epsilon=1e-5)
    for layer in (fused, plain, reference):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2, 8)); layer.beta.assign(np.linspace(-1, 1, 8))
    out = [keras.ops.convert_to_numpy(l(x, training=True)) for l in (fused, plain, reference)]
    np.testing.assert_allclose(out[0], out[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], out[2], rtol=1e-5, atol=1e-5)
    n = 4 * 6 * 6
    # Moving variance: the unbiased batch variance, as TF1's fused BN stored it.
    for layer in (fused, plain):
        np.testing.assert_allclose(layer.moving_variance, x.reshape(-1, 8).var(0) * n / (n - 1), rtol=1e-5)
        np.testing.assert_allclose(layer.moving_mean, x.reshape(-1, 8).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reference.moving_variance, x.reshape(-1, 8).var(0), rtol=1e-5)
    # Inference mode uses the moving statistics in both paths.
    np.testing.assert_allclose(fused(x), plain(x), rtol=1e-5, atol=1e-5)


def test_keras_ops_batch_norm_of_the_other_backends_equals_the_fused_op():
    """The batch norm JAX and PyTorch run (keras.ops; tests/test_backends.py runs it there), here on
    TensorFlow's keras.ops: the fused op's outputs and unbiased moving variance, in the input's dtype."""
    x = np.random.default_rng(8).normal(1.0, 2.0, size=(4, 6, 6, 8)).astype("float32")
    fused, other = (layers.BatchNorm(momentum=0.3, epsilon=1e-5) for _ in range(2))
    for layer in (fused, other):
        layer.build(x.shape)
        layer.set_weights([np.linspace(0.5, 2, 8), np.linspace(-1, 1, 8), np.linspace(-0.5, 0.5, 8),
                           np.linspace(0.5, 1.5, 8)])
    np.testing.assert_allclose(other._call_keras_ops(x, False), fused(x, training=False), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(other._call_keras_ops(x, True), fused(x, training=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(other.moving_mean, fused.moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(other.moving_variance, fused.moving_variance, rtol=1e-5)
    assert other._call_keras_ops(tf.cast(x, tf.bfloat16), True).dtype == tf.bfloat16


def test_fused_model_step_equals_unfused_model_step():
    # A randomly initialised deep net WITHOUT the zero-init gamma is chaotic: float
    # rounding differences of 1e-7 per layer grow to percents in stage-5 gradients.
    # With the real initialisation (zero gamma in every block's last BN) it is not.
    # (The small model: the same kinds of blocks, a quarter of the ops.)
    x = np.random.default_rng(6).normal(size=(8, 64, 64, 3)).astype("float32")
    y = np.arange(8)
    models = [small_model(num_classes=10, dropout_rate=0.0, fused_batch_norm=f) for f in (True, False)]
    models[1].set_weights(models[0].get_weights())
    results = []
    for model in models:
        inference = model(x)
        opt = keras.optimizers.SGD(0.01, momentum=0.9)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        results.append((logits, inference, grads, [keras.ops.convert_to_numpy(w) for w in model.weights]))
    np.testing.assert_allclose(results[0][0], results[1][0], atol=1e-4)
    np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-4)
    # Same gradients up to float rounding, which 50 layers of small-batch BN backprop
    # amplify. Measured (fused vs plain, 8 images): Eigen kernels 1e-5 of a variable's
    # gradient norm; oneDNN (on by default on AVX-512 CPUs, e.g. an AMD EPYC Zen 5) 0.3%
    # for all gradients together and up to 1.1% for single BN variables, varying from run
    # to run with oneDNN's thread scheduling; once 1.05% for all together (AMD EPYC Zen 1,
    # 2026-12-04), hence 3%. Each single BN layer agrees within 2e-6
    # (test_fused_batch_norm_gradients_equal_plain_ops). A wrong BN formula or gradient
    # is off by O(1) everywhere, which both bounds still catch.
    flat = [tf.concat([tf.reshape(g, [-1]) for g in r[2]], 0) for r in results]
    assert float(tf.norm(flat[0] - flat[1])) <= 3e-2 * float(tf.norm(flat[1]))
    for v, a, b in zip(models[0].trainable_variables, results[0][2], results[1][2]):
        assert float(tf.norm(a - b)) <= 5e-2 * float(tf.norm(b)) + 1e-7, v.path
    # One step's updated weights: within 1e-4 (issue #5's bound); the moving statistics
    # (batch moments, momentum 0) within 1e-4 relative.
    for w, a, b in zip(models[0].weights, results[0][3], results[1][3]):
        if w.trainable:
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=0, err_msg=w.path)
        else:
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4, err_msg=w.path)


def test_fused_batch_norm_gradients_equal_plain_ops():
    rng = np.random.default_rng(7)
    x = tf.constant(rng.normal(1, 2, size=(8, 5, 5, 16)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(8, 5, 5, 16)).astype("float32"))
    grads = []
    for fused in (True, False):
        bn = layers.BatchNorm(fused=fused, momentum=0.0, epsilon=1e-5)
        bn.build(x.shape)
        bn.gamma.assign(np.linspace(0.5, 2, 16))
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(bn(x, training=True) * upstream)
        grads.append(tape.gradient(loss, [x, bn.gamma, bn.beta]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _with_trained_statistics(model, seed=0):
    """Random non-trivial BN parameters and statistics (a fresh model's are 1, 0, 0, 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNorm):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.2, 1.5, c), rng.normal(0, 0.3, c), rng.normal(0, 0.5, c),
                               rng.uniform(0.3, 2.0, c)])
    return model


def test_fold_batch_norm_gives_the_same_logits_without_batch_norm_layers():
    model = _with_trained_statistics(small_model(input_shape=(64, 64, 3), num_classes=10))
    folded = resnet_rs.fold_batch_norm(model)
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in folded.layers)
    conv_names = [l.name for l in model.layers if isinstance(l, keras.layers.Conv2D) and not l.use_bias]
    # stem 4, per block 3 + the first block's projection (the SE convs have biases already)
    assert len(conv_names) == 4 + 4 * 4 and all(folded.get_layer(n).use_bias for n in conv_names)
    # Every BN variable is gone into the convolutions: 4 per BN out, 1 bias per conv in.
    n = len(conv_names)
    assert len(folded.weights) == len(model.weights) - 4 * n + n
    x = np.random.default_rng(1).normal(size=(3, 64, 64, 3)).astype("float32")
    expected, got = model(x).numpy(), folded(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_allclose(resnet_rs.endpoints(folded)(x)["stage3"], resnet_rs.endpoints(model)(x)["stage3"],
                               rtol=0, atol=1e-4)
    assert resnet_rs.fold_batch_norm(folded) is folded
    assert resnet_rs.ResNetRS.from_config(folded.get_config()).get_config()["fold_batch_norm"] is True
    with pytest.raises(TypeError, match="ResNetRS model"):
        resnet_rs.fold_batch_norm(keras.Sequential([keras.layers.Dense(2)]))


def test_fold_batch_norm_in_bfloat16_stores_bfloat16_weights():
    from official.runtime import precision  # pylint: disable=import-outside-toplevel
    model = _with_trained_statistics(small_model(input_shape=(64, 64, 3), num_classes=10))
    with precision.policy("bfloat16"):
        mixed = small_model(input_shape=(64, 64, 3), num_classes=10)
    mixed.set_weights(model.get_weights())
    folded = resnet_rs.fold_batch_norm(mixed)
    assert precision.of(folded) == "bfloat16" and keras.config.dtype_policy().name == "float32"
    assert {v.dtype for v in folded.get_layer("stem_conv1").weights} == {"bfloat16"}
    assert {v.dtype for v in folded.get_layer("logits").weights} == {"float32"}
    x = np.random.default_rng(2).normal(size=(3, 64, 64, 3)).astype("float32")
    expected, got = model(x).numpy(), folded(x).numpy()
    assert got.dtype == np.float32
    # bfloat16 rounding only (8 mantissa bits through every layer), not a wrong fold (O(1)).
    assert np.abs(got - expected).max() < 0.05 * (expected.max() - expected.min())
