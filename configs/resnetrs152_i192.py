# The recipe of the published resnet-rs-152-i192; its docstring and values come from official/published.py.
from official.training import recipes

get_config = recipes.published_config("resnet-rs-152-i192")
__doc__ = get_config.__doc__
