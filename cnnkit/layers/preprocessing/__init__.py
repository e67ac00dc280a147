"""Keras 3's image preprocessing and augmentation layers (`keras.layers.RandomFlip`, ...), built on the transforms
of `cnnkit.data.transforms` (the same objects ImageDataGenerator uses)."""
