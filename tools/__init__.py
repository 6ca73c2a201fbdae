"""The CLIs: thin absl wrappers over the library in `official/`."""

import sys


def show_flags_in_help(module_name):
    """Makes `--help` of a console script list the tool's flags.

    absl's --help lists the flags of the module named by sys.argv[0]; for a console
    script that is the generated stub, not the tool module that defines them.
    """
    from absl import flags  # pylint: disable=g-import-not-at-top
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def run_main(module_name, main):
    """Runs `main` under absl, as `python tools/x.py` and as the installed console script.

    absl's app.run exits with what `main` returns (0 or None: success).

    Example (the end of every tool):
        def run():   # the console script (pyproject.toml [project.scripts])
            tools.run_main(__name__, main)
    """
    from absl import app  # pylint: disable=g-import-not-at-top
    if module_name != "__main__":  # installed: --help should list this tool's flags, not the stub's
        show_flags_in_help(module_name)
    app.run(main)
