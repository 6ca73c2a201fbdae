"""The CLIs: thin absl wrappers over the library in `official/`."""

import os
import re
import sys

# The recipe the training and evaluation CLIs run when no --config is given.
DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "configs", "demo.py")


def show_flags_in_help(module_name):
    """Makes `--help` of a console script list the tool's flags.

    absl's --help lists the flags of the module named by sys.argv[0]; for a console
    script that is the generated stub, not the tool module that defines them.
    """
    from absl import flags  # pylint: disable=g-import-not-at-top
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


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
            tools.run_main(__name__, main)
    """
    from absl import app  # pylint: disable=g-import-not-at-top
    from absl import flags  # pylint: disable=g-import-not-at-top
    from official.runtime import quiet  # pylint: disable=g-import-not-at-top  (imports no TensorFlow)

    run = main
    if tensorflow:
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
    if module_name != "__main__":  # installed: --help should list this tool's flags, not the stub's
        show_flags_in_help(module_name)
    app.run(run, flags_parser=_parse_flags)


def _parse_flags(argv):
    """absl's own flag parsing, with define_config_flag's one line for a bad --config.* field."""
    from absl import app  # pylint: disable=g-import-not-at-top
    try:
        return app.parse_flags_with_usage(argv)
    except (AttributeError, KeyError) as e:
        _bad_override(e)


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
        _CONFIG = tools.define_config_flag("Recipe file (configs/*.py).")
        # --config.train.epochz=3 -> FATAL Flags parsing error: --config.train.epochz=3:
        #   no field 'epochz' in the recipe. Did you mean "epochs" instead of "epochz"?
    """
    from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
    try:
        return config_flags.DEFINE_config_file("config", default, help_string, lock_config=True)
    except (AttributeError, KeyError) as e:
        _bad_override(e)
