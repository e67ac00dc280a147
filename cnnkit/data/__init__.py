"""Data pipelines: image files and folders, augmentation, generators, and writing arrays as image folders.

`data` never imports models or training: iterators hand numpy batches to whoever asks.
"""

from cnnkit.data import experimental as experimental
from cnnkit.data.dataframe import DataFrameIterator as DataFrameIterator
from cnnkit.data.dataset import ImageDataset as ImageDataset
from cnnkit.data.dataset import image_dataset_from_directory as image_dataset_from_directory
from cnnkit.data.directory import natural_key as natural_key
from cnnkit.data.directory import split_indices as split_indices
from cnnkit.data.export import write_image_folder as write_image_folder
from cnnkit.data.files import DirectoryIterator as DirectoryIterator
from cnnkit.data.generator import ImageDataGenerator as ImageDataGenerator
from cnnkit.data.image_io import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from cnnkit.data.image_io import array_to_img as array_to_img
from cnnkit.data.image_io import img_to_array as img_to_array
from cnnkit.data.image_io import load_img as load_img
from cnnkit.data.image_io import save_img as save_img
from cnnkit.data.iterators import Iterator as Iterator
from cnnkit.data.iterators import NumpyArrayIterator as NumpyArrayIterator
from cnnkit.data.pipeline import AUTOTUNE as AUTOTUNE
from cnnkit.data.pipeline import INFINITE_CARDINALITY as INFINITE_CARDINALITY
from cnnkit.data.pipeline import UNKNOWN_CARDINALITY as UNKNOWN_CARDINALITY
from cnnkit.data.pipeline import Dataset as Dataset

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "experimental", "IMAGE_EXTENSIONS", "DataFrameIterator", "DirectoryIterator", "ImageDataGenerator", "ImageDataset",
           "Iterator", "NumpyArrayIterator", "array_to_img", "image_dataset_from_directory", "img_to_array",
           "load_img", "natural_key", "save_img", "split_indices", "write_image_folder"]
