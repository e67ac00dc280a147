"""Plots for training and for looking inside a convnet (matplotlib, imported only when a plot is drawn).

Every function returns a matplotlib Figure, saves it when given `path=` ('.png', '.svg', '.pdf'), and works on a
headless machine (the Agg backend is chosen when there is no display).

- `plot_history(history)`: learning curves, each metric with its validation twin (also `history.plot()`).
- `plot_filters(layer)`: a Conv2D layer's kernels, one image per filter.
- `plot_feature_maps(model, image)`: the outputs of the convolution and pooling layers for one image.
- `plot_kernel_response(kernel, images)`: images next to their convolution with one kernel (e.g. Sobel).
- `show_batch(iterator_or_batch)`: a grid of images from a batch or an image iterator, titled with labels.
- `confusion_matrix`, `plot_confusion_matrix`, `most_confused` (the most frequent mistakes),
  `classification_report` (scikit-learn's numbers and layout),
  `plot_top_losses(model, x, y)`: where a classifier goes wrong.
- `grad_cam(model, image, layer=None)` / `plot_grad_cam(...)`: which pixels drove a prediction (last conv layer
  by default).
- `plot_model(model, to_file)`: the layer graph as boxes and arrows (Keras's arguments; no Graphviz needed).
"""

from cnnkit.visualization.batches import show_batch as show_batch
from cnnkit.visualization.evaluation import classification_report as classification_report
from cnnkit.visualization.evaluation import confusion_matrix as confusion_matrix
from cnnkit.visualization.evaluation import most_confused as most_confused
from cnnkit.visualization.evaluation import plot_confusion_matrix as plot_confusion_matrix
from cnnkit.visualization.evaluation import plot_top_losses as plot_top_losses
from cnnkit.visualization.filters import plot_feature_maps as plot_feature_maps
from cnnkit.visualization.filters import plot_filters as plot_filters
from cnnkit.visualization.filters import plot_kernel_response as plot_kernel_response
from cnnkit.visualization.gradcam import grad_cam as grad_cam
from cnnkit.visualization.gradcam import plot_grad_cam as plot_grad_cam
from cnnkit.visualization.history import plot_history as plot_history
from cnnkit.visualization.history import plot_lr_find as plot_lr_find
from cnnkit.visualization.plot_model import plot_model as plot_model
