# The recipe of the published resnet-rs-350-i256; its docstring and values come from official/published.py.
from official.training import recipes

get_config = recipes.published_config("resnet-rs-350-i256")
__doc__ = get_config.__doc__
