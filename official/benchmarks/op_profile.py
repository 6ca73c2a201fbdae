"""Where a step's time goes: TensorFlow's op trace, summed per op type and per kind of work.

The kinds also name ONNX Runtime's operators (Conv, Gemm, ReduceMean, its NCHWc
reorders...), so that the ONNX Runtime peer's profile (`onnx_resnetrs.py --op_profile`,
ONNX Runtime's own profiler, summed by `summarize`) compares with ours kind by kind.

`profile(fn)` runs `fn` under TensorFlow's profiler (host tracer) and adds up, per op
type, the time its kernels ran, over every thread. It is op time, not wall time:
with two inter-op threads two ops run at once, so the kinds' seconds add up to more
than the call took. Their shares say what the step spends its CPU on, e.g. whether
the convolutions (`tools/benchmark.py --conv_floor` bounds those) or the element-wise
passes around them are the larger part.

Example:
    >>> import tensorflow as tf
    >>> x = tf.random.normal((8, 16, 16, 8)); w = tf.random.normal((3, 3, 8, 8))
    >>> f = tf.function(lambda: tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"))[0, 0, 0, 0])
    >>> p = profile(lambda: f().numpy(), calls=2)
    >>> "convolution" in p["kinds"], p["calls"]
    (True, 2)
"""

import collections
import glob
import os
import shutil
import tempfile

# Kind of work per op type; oneDNN's rewrites (`_MklNative...`, `_MklFused...`) are
# matched on the name without those prefixes. Anything unnamed here is "other".
KINDS = (
    ("convolution filter gradient", ("Conv2DBackpropFilter", "Conv2DBackpropFilterWithBias",
                                     "DepthwiseConv2dNativeBackpropFilter")),
    ("convolution input gradient", ("Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropInput")),
    ("convolution", ("Conv2D", "FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative",
                     "PadWithConv2D", "PadWithFusedConv2D", "Conv", "FusedConv")),
    ("matrix product", ("MatMul", "FusedMatMul", "BatchMatMulV2", "Gemm", "FusedGemm")),
    ("batch norm gradient", ("FusedBatchNormGradV3", "FusedBatchNormGradEx")),
    ("batch norm", ("FusedBatchNormV3", "FusedBatchNormEx")),
    ("activation gradient", ("ReluGrad", "SigmoidGrad", "SoftplusGrad", "TanhGrad")),
    ("activation", ("Relu", "Sigmoid", "Softplus", "Tanh", "Swish", "_FusedMul")),
    ("reduction", ("Sum", "Mean", "L2Loss", "Max", "AvgPool", "AvgPoolGrad", "ReduceMean",
                   "GlobalAveragePool", "AveragePool")),
    ("layout change", ("Transpose", "ReorderInput", "ReorderOutput")),
    ("element-wise arithmetic", ("Mul", "AddV2", "Add", "AddN", "Sub", "RealDiv", "Square",
                                 "SquaredDifference", "Rsqrt", "Tile", "BroadcastTo", "Pad",
                                 "Slice", "Cast", "SelectV2", "Maximum", "Minimum")),
    ("variable update", ("ResourceApplyMomentum", "ResourceApplyKerasMomentum",
                         "ResourceApplyGradientDescent", "AssignVariableOp", "AssignSubVariableOp",
                         "AssignAddVariableOp")),
)
_KIND_OF = {op: kind for kind, ops in KINDS for op in ops}
# Events that enclose ops (the executor's own bookkeeping), not kernels: not counted.
_ENCLOSING = ("Process", "Start", "ExecutorDoneCallback")


def op_kind(op_type):
    """The kind of work of an op type, e.g. op_kind("_MklNativeConv2DBackpropFilter")."""
    for prefix in ("_MklNative", "_MklFused", "_Mkl"):
        if op_type.startswith(prefix):
            stripped = op_type[len(prefix):]
            if stripped in _KIND_OF:
                return _KIND_OF[stripped]
            if prefix == "_MklFused" and "Fused" + stripped in _KIND_OF:
                return _KIND_OF["Fused" + stripped]
    return _KIND_OF.get(op_type, "other")


def _op_seconds(xspace_path):
    """{op type: seconds} from one XSpace file of the host tracer."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top

    space = xplane_pb2.XSpace()
    with open(xspace_path, "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):    # the executor's op threads
                continue
            for event in line.events:
                name = names[event.metadata_id].name      # "scope/op_name:OpType"
                if ":" not in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                if op_type not in _ENCLOSING:
                    seconds[op_type] += event.duration_ps * 1e-12
    return seconds


def profile(fn, calls=2, top=12):
    """Runs `fn` `calls` times under the profiler; op seconds per call, by kind and op type.

    Call `fn` once before (tracing and oneDNN's first-run work are not the step).
    Returns {"calls", "op_s_per_call", "kinds": {kind: {"s", "share"}}, "top_ops":
    [[op type, kind, s, share], ...]} with seconds per call, largest first.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    logdir = tempfile.mkdtemp(prefix="op_profile_")
    try:
        tf.profiler.experimental.start(
            logdir, options=tf.profiler.experimental.ProfilerOptions(host_tracer_level=2))
        try:
            for _ in range(calls):
                fn()
        finally:
            tf.profiler.experimental.stop()
        files = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
        if not files:
            raise RuntimeError(f"the profiler wrote no trace under {logdir}")
        seconds = _op_seconds(files[0])
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    return summarize(seconds, calls, top)


def summarize(seconds, calls, top=12):
    """{op type: seconds over `calls` calls} as `profile` returns it, seconds per call.

    Example:
        >>> summarize({"Conv": 0.6, "Add": 0.2}, calls=2)["kinds"]["convolution"]
        {'s': 0.3, 'share': 0.75}
    """
    total = sum(seconds.values()) or 1.0
    kinds = collections.Counter()
    for op_type, s in seconds.items():
        kinds[op_kind(op_type)] += s
    per_call = lambda s: round(s / calls, 4)  # noqa: E731
    return dict(
        calls=calls,
        op_s_per_call=per_call(total),
        kinds={k: dict(s=per_call(s), share=round(s / total, 4)) for k, s in kinds.most_common()},
        top_ops=[[op, op_kind(op), per_call(s), round(s / total, 4)]
                 for op, s in collections.Counter(seconds).most_common(top)])
