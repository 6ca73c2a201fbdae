"""ResNet-RS training and evaluation: `train_and_evaluate`, read top to bottom.

`train_and_evaluate(config, workdir, strategy)` trains with the paper's recipe
(official/training/recipes.py) under any `tf.distribute` strategy: a custom loop that runs
`steps_per_loop` steps per `tf.function` call (`strategy.run` inside), an EMA of the
weights and BN statistics (official/training/ema.py) used for evaluation, checkpoints and the
export, automatic resume from `workdir`, a checkpoint before exit on SIGTERM/Ctrl-C,
and a clean stop on a non-finite loss that leaves the last good checkpoint alone.

The pieces: official/training/config.py (config checks, run lengths),
official/training/inputs.py (datasets), official/training/state.py (model, optimizer, EMA,
checkpoint; resume or init), official/training/step.py (loss, train loop),
official/training/evaluation.py (evals). This module runs the loop and exports.

Example:
    >>> from configs import demo   # then a training run of some minutes:
    >>> metrics = train_and_evaluate(demo.get_config(), "demo", distribute.make_strategy("auto"))  # doctest: +SKIP
"""

import functools
import math
import os
import signal
import threading
import time

from absl import logging
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from official import families
from official.runtime import distribute
from official.runtime import precision_probe
from official.runtime import workdir as workdir_lib
from official.training.config import check_config, resolve_precision, run_lengths
from official.training.evaluation import evaluate_with_ema, make_eval_fn
from official.training.inputs import check_not_empty, make_datasets, prepare_demo_data, resolve_data
from official.training.state import (TrainingError, check_workdir_model, create_train_state,
                                     model_from_config, restore_or_initialize)
from official.training.step import make_train_loop


def scalar_summary(name, value):
    """A TensorBoard scalar without the tensorboard package (tf.summary.scalar needs it).

    Writes the same event TensorBoard's scalars plugin reads (plugin name "scalars").
    """
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    return tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)


class _StopRequest:
    """SIGTERM (preemption) and Ctrl-C set a flag; the loop checkpoints and stops."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        del frame
        self.signal = signum
        # A second Ctrl-C kills at once.
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        logging.warning("received %s: checkpointing and stopping after the current loop",
                        signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _format_eta(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def export_model(config, model, ema, export_dir):
    """SavedModel of the averaged weights through official/serving/export.py (float32, no strategy).

    A 1001-way ImageNet head is exported without the column no training label reached
    (official/data/labels.py: column 0 on the Garden's 1-based TFRecords, as official.checkpoints.readers
    does; column 1000 on 0-based TFDS labels), so the export speaks the 1000 ImageNet
    classes. Any other head serves the class names of its data (config.export.class_names
    if set, else the TFDS label names or the TFRecords' synsets), or the label indices.
    Returns the export directory, or None when official/serving/export.py cannot serve this head;
    the checkpoint then is the result.
    """
    from official.serving import export  # pylint: disable=g-import-not-at-top
    from official.data import labels  # pylint: disable=g-import-not-at-top
    clone = model_from_config(config, name=model.name)
    clone.set_weights([v.numpy() for v in model.weights])
    if ema is not None:
        ema.copy_to(clone)
    unused = labels.unused_logit_column(config)
    if unused is not None:
        kernel, bias = clone.get_layer("logits").get_weights()
        head_config = config.copy_and_resolve_references()
        head_config.model.num_classes = config.model.num_classes - 1
        head_config.model.class_names = ()
        dropped = model_from_config(head_config, name=model.name)
        for layer in dropped.layers:
            if layer.weights and layer.name != "logits":
                layer.set_weights(clone.get_layer(layer.name).get_weights())
        keep = [i for i in range(config.model.num_classes) if i != unused]
        dropped.get_layer("logits").set_weights([kernel[:, keep], bias[keep]])
        clone = dropped
    class_names = None
    given = config.export.get("class_names", "")
    if given:
        class_names = [n.strip() for n in given.split(",")]
    elif clone.get_layer("logits").units != families.IMAGENET_CLASSES or config.model.get("class_names"):
        class_names = labels.class_names(config)
    size = config.export.image_size or config.data.eval_image_size or config.data.image_size
    try:
        return export.export_saved_model(clone, export_dir, image_size=size,
                                         preprocessing=config.data.preprocessing,
                                         crop_padding=config.data.crop_padding, class_names=class_names)
    except ValueError as e:
        logging.warning("no SavedModel export: %s", e)
        return None


def train_and_evaluate(config, workdir, strategy=None, handle_signals=True, stop_at_step=None):
    """Trains `config` in `workdir` (resuming from its checkpoint), evaluates, exports.

    Args:
        config: a ConfigDict from configs/ (validated here).
        workdir: checkpoints (workdir/checkpoints), summaries (workdir/train, /eval),
            the SavedModel (workdir/export). Rerunning resumes.
        strategy: a tf.distribute strategy (default: distribute.make_strategy("auto")).
        handle_signals: checkpoint and stop on SIGTERM / SIGINT (main thread only).
        stop_at_step: checkpoint and stop once this step is reached, as a preempted run
            would (a time-boxed job; the schedule still spans the whole run).

    Returns:
        dict: step, loss, the last eval metrics, interrupted (signal name or None),
        export_dir (or None).

    Raises:
        ValueError: a bad config value, empty dataset or mismatched workdir.
        TrainingError: a non-finite loss (the last good checkpoint is kept).
        official.runtime.workdir.WorkdirLocked: another live run holds `workdir`.
        official.runtime.workdir.WriteError: a full disk (or a read-only path) refused a
            checkpoint, summary or export; the last good checkpoint is kept.
    """
    if not workdir:
        raise ValueError("a workdir is required (--workdir=DIR): checkpoints, summaries and the "
                         "export go there")
    strategy = strategy or distribute.make_strategy("auto")
    # One run per workdir (the chief holds it for a multi-worker run); readers need no lock.
    with workdir_lib.WorkdirLock(workdir, enabled=distribute.is_chief(strategy)):
        return _train_and_evaluate(config, workdir, strategy, handle_signals, stop_at_step)


def _train_and_evaluate(config, workdir, strategy, handle_signals, stop_at_step):
    prepare_demo_data(config, workdir)
    described = resolve_data(config)      # a folder's classes and counts, counted zeros
    if described:
        logging.info("%s", described)
    check_config(config)
    chief = distribute.is_chief(strategy)
    precision = resolve_precision(config, strategy)
    steps_per_epoch, total_steps, warmup_steps = run_lengths(config)
    check_workdir_model(config, workdir, chief)
    check_not_empty(config, config.data.train_split)
    check_not_empty(config, config.data.eval_split)
    blocks = config.model.get("block_counts")
    logging.info("ResNet-RS-%d%s, %d classes, on %d replica(s), precision %s: %d steps (%d per epoch, "
                 "%d warm-up) at batch %d", config.model.depth,
                 f" (blocks per stage {','.join(map(str, blocks))})" if blocks else "", config.model.num_classes,
                 strategy.num_replicas_in_sync, precision, total_steps, steps_per_epoch, warmup_steps,
                 config.train.global_batch_size)
    if config.train.precision == "float32" and distribute.default_precision(strategy) == "float32":
        measured = precision_probe.measure()      # cached per machine: ~1 s on the first run only
        if precision_probe.choose(measured) == "bfloat16":
            logging.info("%s: --config.train.precision=bfloat16 (or auto) may train faster here "
                         "(float32 variables and checkpoints; tools/benchmark.py --mode=train "
                         "--precision=bfloat16 measures the whole step)",
                         precision_probe.describe(measured))

    # ------------------------------------------------ model, optimizer, EMA, checkpoint
    state = create_train_state(config, strategy, precision, workdir)
    step = restore_or_initialize(state, config, workdir, total_steps)

    # ------------------------------------------------ data
    if config.train.resume_skips_data:
        train_ds, eval_ds = make_datasets(config, strategy, config.train.seed, skip_steps=step)
    else:
        # ImageNet-sized: reading the consumed batches again would take hours, so a
        # resumed run draws a fresh (equally random) order instead.
        train_ds, eval_ds = make_datasets(config, strategy, config.train.seed + step)
    train_iter = iter(train_ds)

    train_loop = make_train_loop(state.model, state.optimizer, state.ema, state.wd_variables,
                                 config, strategy)
    # One pass over the eval split, with the EMA weights when kept.
    evaluate = _data_faults(functools.partial(evaluate_with_ema, make_eval_fn(state.model, strategy),
                                              eval_ds, state.ema))
    train_loop = _data_faults(train_loop)
    # A full disk while writing events: an error naming the workdir, not a traceback.
    summaries = functools.partial(workdir_lib.writing, workdir, "the TensorBoard summaries "
                                  "(train/, eval/)", kept="the checkpoints are untouched")
    if chief:
        with summaries():
            train_writer = tf.summary.create_file_writer(os.path.join(workdir, "train"))
            eval_writer = tf.summary.create_file_writer(os.path.join(workdir, "eval"))
    else:
        train_writer = eval_writer = tf.summary.create_noop_writer()

    # ------------------------------------------------ the loop
    result = _run_loop(state, config, train_loop, train_iter, evaluate, summaries,
                       (train_writer, eval_writer), step, total_steps, handle_signals, stop_at_step)
    if result["interrupted"]:
        return result
    step, manager = result["step"], state.manager

    # ------------------------------------------------ final eval and export
    metrics = evaluate()
    with summaries():
        _log_eval(result, metrics, eval_writer, step)
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{step}"):
        workdir_lib.save_checkpoint(manager, step)
    if config.export.enabled and chief:
        result["export_dir"] = export_model(config, state.model, state.ema,
                                            os.path.join(workdir, "export"))
        if result["export_dir"]:
            logging.info("exported the %s weights to %s", "EMA" if state.ema else "raw",
                         result["export_dir"])
    with summaries():
        train_writer.flush()
        eval_writer.flush()
    return result


def _data_faults(fn):
    """`fn` with a fault in the data (label outside the head, cut TFRecord file, undecodable
    image where not skipped) raised as one line (pipeline.DataError), not TF's graph context."""
    from official.data import pipeline  # pylint: disable=g-import-not-at-top

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:
            message = pipeline.data_error(e)
            if message is None:
                raise
            raise pipeline.DataError(message) from None

    return wrapped


def _run_loop(state, config, train_loop, train_iter, evaluate, summaries, writers, step,
              total_steps, handle_signals, stop_at_step):
    """Steps until total_steps, a signal or stop_at_step: logs, summaries, checkpoints, evals.

    Returns the result dict of train_and_evaluate so far (step, loss, interrupted, the
    evals' metrics); `evaluate()` returns the metrics of one pass over the eval split.
    """
    optimizer, schedule, manager = state.optimizer, state.schedule, state.manager
    train_writer, eval_writer = writers
    start_step, start_time = step, time.time()
    result = {"step": step, "loss": None, "interrupted": None, "export_dir": None}
    eval_every = config.train.eval_every_steps
    with _StopRequest() if handle_signals else _NoStop() as stop:
        while step < total_steps:
            boundaries = [total_steps, step + config.train.steps_per_loop,
                          (step // config.train.checkpoint_every_steps + 1)
                          * config.train.checkpoint_every_steps]
            if eval_every:
                boundaries.append((step // eval_every + 1) * eval_every)
            num_steps = min(boundaries) - step
            t0 = time.time()
            try:
                loss = float(train_loop(train_iter, tf.constant(num_steps, tf.int32)))
            except tf.errors.OutOfRangeError as e:
                raise ValueError(f"the training split '{config.data.train_split}' ran out of "
                                 f"data (empty dataset?): {e}") from None
            step = int(optimizer.iterations.numpy())
            if not math.isfinite(loss):
                raise TrainingError(
                    f"the loss is {loss} at step {step}; stopping. The last good checkpoint "
                    f"({manager.latest_checkpoint or 'none yet'}) is left as it was; lower "
                    "config.optimizer.base_lr_per_256 or check the data")
            elapsed = time.time() - t0
            images_per_sec = num_steps * config.train.global_batch_size / max(elapsed, 1e-9)
            lr = float(schedule(step))
            eta = (time.time() - start_time) / (step - start_step) * (total_steps - step)
            logging.info("step %d/%d  loss %.4f  lr %.4g  %.1f images/s  ETA %s", step,
                         total_steps, loss, lr, images_per_sec, _format_eta(eta))
            with summaries(), train_writer.as_default(step=step):
                scalar_summary("loss", loss)
                scalar_summary("learning_rate", lr)
                scalar_summary("images_per_sec", images_per_sec)
            result.update(step=step, loss=loss)
            if stop_at_step is not None and step >= stop_at_step and stop.signal is None:
                stop.signal = "stop_at_step"
            saved = step % config.train.checkpoint_every_steps == 0 or step == total_steps
            if saved or stop.signal is not None:
                workdir_lib.save_checkpoint(manager, step)
            if stop.signal is not None:
                result["interrupted"] = (stop.signal if isinstance(stop.signal, str)
                                         else signal.Signals(stop.signal).name)
                logging.warning("stopped by %s at step %d; checkpoint %s; rerun the same "
                                "command to resume", result["interrupted"], step,
                                manager.latest_checkpoint)
                return result
            if eval_every and step % eval_every == 0 and step < total_steps:
                metrics = evaluate()
                with summaries():
                    _log_eval(result, metrics, eval_writer, step)
    return result


class _NoStop:
    signal = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _log_eval(result, metrics, writer, step):
    logging.info("eval at step %d: %s", step,
                 "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "count"))
    with writer.as_default(step=step):
        for k, v in metrics.items():
            if k != "count":
                scalar_summary(k, v)
    result.update(metrics)
