"""`ImageDataGenerator`: Keras's augmentation + normalisation settings, applied a whole batch at a time.

The settings compile to ordered `Transform`s (`transforms`): the augmentations (`cnnkit.data.legacy_transforms`,
Keras's order: affine warp, flips, channel shift, brightness, then cnnkit's extras contrast, blur, sharpen, noise),
whose random parameters are Keras's (`get_random_transform`), drawn for all images of a batch at once and applied as
batched torch operations; then the standardisation (`cnnkit.data.standardization`). `get_random_transform`,
`apply_transform`, `random_transform`, `standardize`, `fit` and every iterator batch go through them.

Note:
    Unlike Keras, a 'validation' subset is never augmented, and the validation split is seeded and stratified.
    Extras not in Keras: contrast_range, blur_range, sharpen_range and noise_std (all in the pixel scale of the
    loaded image, 0-255, before `rescale`), and the iterators' workers / cache / on_error arguments.
"""

import inspect
import warnings

import numpy as np
import torch

from cnnkit.data.dataframe import DataFrameIterator
from cnnkit.data.directory import check_validation_split
from cnnkit.data.files import DirectoryIterator
from cnnkit.data.image_io import check_data_format
from cnnkit.data.iterators import NumpyArrayIterator
from cnnkit.data.legacy_transforms import Pipeline
from cnnkit.data.params import GeneratorParams, augmentation_transforms, sample_params
from cnnkit.data.standardization import (FeaturewiseCenter, FeaturewiseStdNormalization, PreprocessingFunction, Rescale,
                                         SamplewiseCenter, SamplewiseStdNormalization, ZCAWhitening)
from cnnkit.registry import check_kwargs, init_parameter_names


class ImageDataGenerator(GeneratorParams):
    """Generates batches of images with real-time augmentation (Keras's `ImageDataGenerator` API).

    Args (as Keras): featurewise_center, samplewise_center, featurewise_std_normalization,
        samplewise_std_normalization, zca_whitening, zca_epsilon=1e-6, rotation_range (degrees),
        width_shift_range / height_shift_range (fraction if < 1, else pixels; int or list: choices), brightness_range
        (two factors), shear_range (degrees), zoom_range (float z -> [1-z, 1+z], or [lower, upper]),
        channel_shift_range, fill_mode ('constant', 'nearest', 'reflect', 'wrap'), cval, horizontal_flip,
        vertical_flip, rescale, preprocessing_function (called on each image after augmentation), data_format,
        validation_split, interpolation_order (0 or 1), dtype.
    Args (cnnkit extras): contrast_range (float c -> [1-c, 1+c] or two factors), blur_range (Gaussian sigma in
        pixels: float s -> [0, s] or two values), sharpen_range (float s -> [1, 1+s] or two factors; 1 = unchanged),
        noise_std (std of added Gaussian noise, pixel scale).

    Example:
        >>> datagen = ImageDataGenerator(validation_split=0.25, rescale=1 / 255, horizontal_flip=True)
        >>> train = datagen.flow_from_directory("data/", target_size=(150, 150), batch_size=16,
        ...                                     class_mode="sparse", subset="training", seed=54321)
        Found 1263 images belonging to 12 classes.
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None, contrast_range=None, blur_range=None,
                 sharpen_range=None, noise_std=0.0, **kwargs):
        check_kwargs("ImageDataGenerator", kwargs, init_parameter_names(type(self)))
        super().__init__(rotation_range=rotation_range, width_shift_range=width_shift_range,
                         height_shift_range=height_shift_range, brightness_range=brightness_range,
                         shear_range=shear_range, zoom_range=zoom_range, channel_shift_range=channel_shift_range,
                         fill_mode=fill_mode, cval=cval, horizontal_flip=horizontal_flip, vertical_flip=vertical_flip,
                         interpolation_order=interpolation_order, contrast_range=contrast_range,
                         blur_range=blur_range, sharpen_range=sharpen_range, noise_std=noise_std)
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise TypeError("ImageDataGenerator: preprocessing_function must be callable (one image in, one out).")
        self.data_format = check_data_format(data_format, "ImageDataGenerator")
        self.dtype = dtype or "float32"
        self._validation_split = check_validation_split(validation_split)
        self.rescale, self.preprocessing_function, self.zca_epsilon = rescale, preprocessing_function, zca_epsilon
        self.featurewise_center, self.samplewise_center = featurewise_center, samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization, self.zca_whitening = samplewise_std_normalization, zca_whitening
        self.mean = self.std = self.zca_whitening_matrix = None
        for flag, implied, why in ((zca_whitening, "featurewise_center", "zca_whitening"),
                                   (featurewise_std_normalization, "featurewise_center",
                                    "featurewise_std_normalization"),
                                   (samplewise_std_normalization, "samplewise_center", "samplewise_std_normalization")):
            if flag and not getattr(self, implied):
                setattr(self, implied, True)
                warnings.warn(f"This ImageDataGenerator specifies `{why}`, which overrides setting of `{implied}`.",
                              stacklevel=2)
        if zca_whitening and featurewise_std_normalization:
            self.featurewise_std_normalization = False
            warnings.warn("This ImageDataGenerator specifies `zca_whitening`, which overrides setting of "
                          "`featurewise_std_normalization`.", stacklevel=2)

    # ---- iterators ------------------------------------------------------------------------------------------
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", ignore_class_split=False, subset=None, **kwargs):
        """Batches from in-memory arrays: x (samples, height, width, channels), optional y and sample_weight."""
        check_kwargs("flow()", kwargs, _parameters(ImageDataGenerator.flow))
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format, subset=subset,
                                  ignore_class_split=ignore_class_split, dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None, save_to_dir=None,
                            save_prefix="", save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False, workers=None, cache=False,
                            on_error="warn", use_multiprocessing=None, **kwargs):
        """Batches from a class-folder tree; prints "Found N images belonging to K classes." (see
        `DirectoryIterator`). cnnkit extras: workers (decoding workers, default all cores), use_multiprocessing
        (default: processes when workers > 1; False: threads), cache (keep decoded, resized images in memory: True,
        or a budget in bytes), on_error ('warn': skip unreadable files; 'raise')."""
        check_kwargs("flow_from_directory()", kwargs, _parameters(ImageDataGenerator.flow_from_directory))
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 data_format=self.data_format, save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, follow_links=follow_links, subset=subset,
                                 interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio, dtype=self.dtype,
                                 workers=workers, cache=cache, on_error=on_error,
                                 use_multiprocessing=use_multiprocessing)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class", weight_col=None,
                            target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                            batch_size=32, shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", subset=None, interpolation="nearest", validate_filenames=True,
                            keep_aspect_ratio=False, workers=None, cache=False, on_error="warn",
                            use_multiprocessing=None, **kwargs):
        """Batches of the images listed in a dataframe column (see `DataFrameIterator`)."""
        check_kwargs("flow_from_dataframe()", kwargs, _parameters(ImageDataGenerator.flow_from_dataframe))
        return DataFrameIterator(dataframe, directory, self, x_col=x_col, y_col=y_col, weight_col=weight_col,
                                 target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 data_format=self.data_format, save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, subset=subset, interpolation=interpolation,
                                 keep_aspect_ratio=keep_aspect_ratio, dtype=self.dtype,
                                 validate_filenames=validate_filenames, workers=workers, cache=cache,
                                 on_error=on_error, use_multiprocessing=use_multiprocessing)

    # ---- one image (Keras's API) ----------------------------------------------------------------------------
    def get_random_transform(self, img_shape, seed=None):
        """Random parameters for one image of shape `img_shape` (a dict, Keras's keys plus cnnkit's extras)."""
        rng = np.random.default_rng(seed if seed is not None else np.random.randint(0, 2**31 - 1))
        params = sample_params(self, 1, self._hw(img_shape), rng)
        return {k: (v[0].item() if isinstance(v, np.ndarray) else v) for k, v in params.items()}

    def apply_transform(self, x, transform_parameters):
        """Applies the transform described by `transform_parameters` to one image (height, width, channels)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"apply_transform: x must be one image of rank 3. Received shape: {x.shape}")
        params = {k: np.asarray([v]) for k, v in transform_parameters.items() if v is not None}
        batch = self._to_last(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None])
        return self._from_last(augmentation_transforms(self).apply(batch, params))[0].numpy()

    def random_transform(self, x, seed=None):
        """A randomly transformed copy of one image."""
        return self.apply_transform(x, self.get_random_transform(np.shape(x), seed))

    def standardize(self, x):
        """Applies preprocessing_function, rescale, samplewise / featurewise normalisation and ZCA to `x` (one image
        or a batch; statistics over the whole of `x`, as Keras). Changes `x` in place where it can."""
        x = x if isinstance(x, np.ndarray) else np.asarray(x)
        channels_first = self.data_format == "channels_first"
        units = (np.moveaxis(x, -3, -1) if channels_first else x)[None]  # x is one unit of the steps
        for step in self.standardization():
            units = step.apply_numpy(units)
        out = np.moveaxis(units[0], -1, -3) if channels_first else units[0]
        same = (out.shape == x.shape and out.strides == x.strides and out.dtype == x.dtype
                and out.__array_interface__["data"][0] == x.__array_interface__["data"][0])
        return x if same else out

    # ---- the transforms -------------------------------------------------------------------------------------
    @property
    def transforms(self):
        """The generator compiled to its ordered transforms (a `Pipeline`): the augmentations (when any is set;
        `cnnkit.data.legacy_transforms`), then the standardisation (`cnnkit.data.standardization`), made from the
        current settings and fitted statistics."""
        steps = list(augmentation_transforms(self)) if self.augments else []
        return Pipeline(steps + self.standardization())

    def standardization(self):
        """The standardisation steps, in Keras's order: preprocessing_function, rescale, samplewise center / std,
        featurewise center / std, ZCA (fitted statistics as they are now)."""
        steps = []
        if self.preprocessing_function:
            steps.append(PreprocessingFunction(self.preprocessing_function, self.data_format))
        if self.rescale:
            steps.append(Rescale(self.rescale))
        if self.samplewise_center:
            steps.append(SamplewiseCenter())
        if self.samplewise_std_normalization:
            steps.append(SamplewiseStdNormalization())
        if self.featurewise_center:
            steps.append(FeaturewiseCenter(self.mean))
        if self.featurewise_std_normalization:
            steps.append(FeaturewiseStdNormalization(self.std))
        if self.zca_whitening:
            steps.append(ZCAWhitening(self.zca_whitening_matrix, self.data_format))
        return steps

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Computes the featurewise mean / std and the ZCA matrix from sample images x (samples, h, w, c)."""
        x = np.array(x, dtype=self.dtype, copy=True)
        if x.ndim != 4:
            raise ValueError(f"Input to `.fit()` should have rank 4. Got array with shape: {x.shape}")
        axis = 3 if self.data_format == "channels_last" else 1
        if x.shape[axis] not in (1, 3, 4):
            warnings.warn(f"Expected images with 1, 3 or 4 channels on axis {axis}; got shape {x.shape}.",
                          stacklevel=2)
        if self.rescale:
            x = Rescale(self.rescale).apply_numpy(x)
        if augment:
            rng = np.random.default_rng(seed if seed is not None else np.random.randint(0, 2**31 - 1))
            x = np.concatenate([self._augment(x, rng) for _ in range(rounds)])
        stat_axes = (0, 1, 2) if axis == 3 else (0, 2, 3)
        shape = (1, 1, x.shape[3]) if axis == 3 else (x.shape[1], 1, 1)
        if self.featurewise_center:
            self.mean = np.mean(x, axis=stat_axes).reshape(shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=stat_axes).reshape(shape)
            x /= self.std + 1e-6
        if self.zca_whitening:
            flat = x.reshape(len(x), -1)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            self.zca_whitening_matrix = (u * (np.sqrt(len(x)) / (s + self.zca_epsilon))).dot(u.T)

    # ---- batches (what the iterators call) -----------------------------------------------------------------
    def sample_params(self, n, image_size, rng):
        """Random transform parameters for a batch of `n` images (None when nothing is augmented)."""
        return sample_params(self, n, image_size, rng) if self.augments else None

    def augment_batch(self, batch, params):
        """The random transforms `params` applied to a raw batch (n, h, w, c) -> float32 numpy, not standardized
        (possibly not C-contiguous: whoever copies it next lays it out). `batch` may be a float32 torch tensor
        (any strides), used as it is."""
        if not isinstance(batch, torch.Tensor):
            batch = torch.from_numpy(np.ascontiguousarray(batch)).to(torch.float32)
        return augmentation_transforms(self).apply(batch, params).numpy()

    def process_batch(self, batch, rng=None, augment=True, dtype=None, params=None, augmented=False):
        """Augments (when `augment`) and standardizes a batch (n, h, w, c) -> float array (n, h, w, c).

        `params` are pre-drawn transform parameters (else drawn from `rng`); `augmented=True` says `batch` is
        already augmented float32 (by a decoding worker). Only the augmentation uses torch; conversion and
        standardization are numpy (single-threaded), so they do not compete with decoding workers or the training
        step for the cores. The batch is converted to float32 (or copied) once: by the first standardisation step
        when that is `Rescale` (one pass for both), else on its own.
        """
        owned = False
        if not augmented and augment and self.augments:
            if params is None:
                params = sample_params(self, len(batch), batch.shape[1:3], rng)
            batch, owned = self.augment_batch(batch, params), True
        steps = self.standardization()
        if steps and isinstance(steps[0], Rescale):
            x, steps = steps[0].convert(batch), steps[1:]
        elif owned:
            x = np.ascontiguousarray(batch)
        else:
            x = np.array(batch, dtype=np.float32, order="C")  # a copy: `batch` may be the caller's or a worker's shared memory
        for step in steps:
            x = step.apply_numpy(x)
        return np.ascontiguousarray(x, dtype=np.float32).astype(dtype or self.dtype, copy=False)

    def _augment(self, x, rng):
        """Random transforms of a numpy batch (n, h, w, c) in the generator's data_format."""
        batch = self._to_last(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        params = sample_params(self, len(x), batch.shape[1:3], rng)
        return self._from_last(augmentation_transforms(self).apply(batch, params)).numpy()

    def plain_scale(self, augment):
        """The factor a batch is multiplied by when that is all this generator does to it (1.0 with no rescale);
        None when it also augments (and `augment`) or standardizes."""
        if augment and self.augments:
            return None
        steps = self.standardization()
        if not steps:
            return 1.0
        return steps[0].scale if len(steps) == 1 and isinstance(steps[0], Rescale) else None

    def _hw(self, shape):
        return tuple(shape[:2]) if self.data_format == "channels_last" else tuple(shape[1:3])

    def _to_last(self, x):
        return x if self.data_format == "channels_last" else x.movedim(-3, -1).contiguous()

    def _from_last(self, x):
        return x if self.data_format == "channels_last" else x.movedim(-1, -3).contiguous()


def _parameters(method):
    """The keyword names `method` accepts (for "did you mean" on a misspelt one)."""
    return {name for name in inspect.signature(method).parameters if name not in ("self", "kwargs")}
