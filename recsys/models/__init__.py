"""Built-in recommenders; importing this package registers them by name."""

from recsys.models import content, ease, factors, hybrid, knn, popularity, repeat  # noqa: F401
from recsys.models.base import MODELS, Recommender, create_model, get_model_class  # noqa: F401
