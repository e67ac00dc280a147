"""`cnnkit.preprocessing` mirrors `keras.preprocessing`: `image` (ImageDataGenerator and friends) and
`image_dataset_from_directory`."""

from cnnkit.data.dataset import image_dataset_from_directory as image_dataset_from_directory
from cnnkit.preprocessing import image as image

__all__ = ["image", "image_dataset_from_directory"]
