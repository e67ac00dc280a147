"""`cnnkit.preprocessing.image` mirrors `keras.preprocessing.image` (tf.keras): ImageDataGenerator, its iterators
and the image file helpers. The implementation lives in `cnnkit.data`."""

from cnnkit.data.dataframe import DataFrameIterator as DataFrameIterator
from cnnkit.data.files import DirectoryIterator as DirectoryIterator
from cnnkit.data.generator import ImageDataGenerator as ImageDataGenerator
from cnnkit.data.image_io import array_to_img as array_to_img
from cnnkit.data.image_io import img_to_array as img_to_array
from cnnkit.data.image_io import load_img as load_img
from cnnkit.data.image_io import save_img as save_img
from cnnkit.data.iterators import Iterator as Iterator
from cnnkit.data.iterators import NumpyArrayIterator as NumpyArrayIterator

__all__ = ["DataFrameIterator", "DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator",
           "array_to_img", "img_to_array", "load_img", "save_img"]
