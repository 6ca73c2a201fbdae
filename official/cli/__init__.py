"""The CLIs: thin absl programs over the library, installed as the `resnet-rs-*` console scripts.

Each module here defines its flags, a `main(argv)` and `run()`, the console script's
entry point (pyproject.toml). In a checkout, `python tools/NAME.py` runs the same
`run()` through a three-line launcher.
"""

import os
import re
import sys

from official.training import recipes

__all__ = ["DEMO_CONFIG", "define_config_flag", "enable_onednn", "run_main", "show_flags_in_help"]

# The recipe the training and evaluation CLIs run when no --config is given.
DEMO_CONFIG = recipes.find("demo")


def enable_onednn(frozen_weights=False):
    """Turns oneDNN on for a CLI; call before TensorFlow loads (the environment still wins).

    TensorFlow turns it on by itself only on CPUs with AVX-512; on AVX2-only CPUs it is
    most of the training lead over the Model Garden (docs/performance.md).
    `frozen_weights` (inference only): the weights never change in the process, so
    oneDNN may keep its re-laid-out copies of them (at batch 1 it otherwise re-lays every
    kernel out on every call).
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if frozen_weights:
        os.environ.setdefault("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS", "1")


def show_flags_in_help(module_name):
    """Makes `--help` of a console script list the tool's flags.

    absl's --help lists the flags of the module named by sys.argv[0]; for a console
    script that is the generated stub, not the tool module that defines them.
    """
    from absl import flags  # pylint: disable=g-import-not-at-top
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    # --config is defined here (define_config_flag), so absl counts it as this module's.
    if "config" in flags.FLAGS and flags.FLAGS["config"] in flags.FLAGS.get_flags_for_module(__name__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS["config"])


def run_main(module_name, main, tensorflow=True):
    """Runs `main` under absl, as `python tools/x.py` and as the installed console script.

    absl's app.run exits with what `main` returns (0 or None: success). With
    `tensorflow` (the tools that use it), the flags are checked first and TensorFlow is
    imported after them, quietly (`official.runtime.quiet`): its start-up and INFO lines are
    hidden unless `--verbose`, which every such tool gets. A tool should therefore
    import TensorFlow (or a module that does) only inside `main`: then a bad flag is
    reported at once, not after the seconds-long import.

    Example (the end of every tool):
        def run():   # the console script (pyproject.toml [project.scripts])
            cli.run_main(__name__, main)
    """
    from absl import app  # pylint: disable=g-import-not-at-top
    from absl import flags  # pylint: disable=g-import-not-at-top
    from official.runtime import quiet  # pylint: disable=g-import-not-at-top  (imports no TensorFlow)

    if not tensorflow:
        run = main
    else:
        quiet.before_tensorflow()        # reads --verbose from sys.argv: before any import
        if "verbose" not in flags.FLAGS:
            flags.DEFINE_bool("verbose", False, "Also print TensorFlow's own log lines (start-up, "
                              "saver, SavedModel builder), which are off by default.")
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS["verbose"])  # in --help

        def run(argv):
            verbose = flags.FLAGS.verbose
            with quiet.startup(verbose):
                import tensorflow  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
            quiet.after_flags(verbose)
            return main(argv)
    if module_name != "__main__":  # a launcher or console script: --help shows this tool, not the stub
        show_flags_in_help(module_name)
        sys.modules["__main__"].__doc__ = sys.modules[module_name].__doc__
    app.run(run, flags_parser=_parse_flags)


_HELP = re.compile(r"^-{1,2}(help|helpshort|helpfull|helpxml|\?)(=(true|1))?$")


def _parse_flags(argv):
    """absl's own flag parsing, with define_config_flag's one line for a bad --config.* field.

    absl exits with status 1 after printing --help; asked-for help is a success (0).
    """
    from absl import app  # pylint: disable=g-import-not-at-top
    flags_given = argv[1:argv.index("--")] if "--" in argv[1:] else argv[1:]
    asked_for_help = any(_HELP.match(a) for a in flags_given)
    try:
        return app.parse_flags_with_usage(argv)
    except (AttributeError, KeyError) as e:
        _bad_override(e)
    except SystemExit as e:
        if asked_for_help and e.code == 1:
            sys.exit(0)
        raise


def _bad_override(error):
    """Exits with absl's kind of usage line for an unknown field in a --config.* override."""
    message = error
    while isinstance(message, BaseException) and message.args:   # AttributeError(KeyError(str))
        message = message.args[0]
    field, _, hint = str(message).partition("\n")
    field = field.strip("'\"")
    given = [a for a in sys.argv[1:] if re.match(r"-{1,2}config\.", a)
             and field in re.split(r"[.=]", a.lstrip("-"))]
    sys.exit(f"FATAL Flags parsing error: {', '.join(given) or '--config.*'}: no field {field!r} "
             f"in the recipe. {hint}\nPass --helpshort or --helpfull to see help on flags.")


def define_config_flag(help_string, default=DEMO_CONFIG):
    """`--config` (a configs/*.py recipe, locked) whose bad `--config.*` overrides get one line.

    ml_collections applies the `--config.*` overrides while it parses `--config`: at flag
    definition (import) when `--config` is not given, in absl's flag parsing when it is. An
    unknown field raised a 50-line traceback either way, instead of absl's usage error.
    This one and `run_main` report it as absl reports the others: the flag, the field, the
    nearest name.

    Example (at the top of tools/train.py):
        _CONFIG = cli.define_config_flag("Recipe file (configs/*.py).")
        # --config.train.epochz=3 -> FATAL Flags parsing error: --config.train.epochz=3:
        #   no field 'epochz' in the recipe. Did you mean "epochs" instead of "epochz"?
    """
    from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
    try:
        _resolve_config_names(sys.argv)
    except ValueError as e:
        sys.exit(f"FATAL Flags parsing error: {e}\nPass --helpshort or --helpfull to see help on flags.")
    try:
        return config_flags.DEFINE_config_file("config", default, help_string, lock_config=True)
    except (AttributeError, KeyError) as e:
        _bad_override(e)


def _resolve_config_names(argv):
    """Rewrites `--config=NAME[:family]` in `argv` (in place) to the recipe file's path.

    ml_collections reads --config as a file path; a recipe name (`finetune:tf1`,
    `resnetrs50_i160`) is found among the recipes shipped with the package
    (`recipes.find`), so the same command works in a checkout and once installed.
    """
    for i, arg in enumerate(argv[1:], start=1):
        if arg in ("--config", "-config") and i + 1 < len(argv):
            argv[i + 1] = recipes.find(argv[i + 1])
        elif re.match(r"-{1,2}config=", arg):
            flag, _, value = arg.partition("=")
            argv[i] = f"{flag}={recipes.find(value)}"
