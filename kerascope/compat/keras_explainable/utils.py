"""keras-explainable's ``utils``: ``visualize`` a list of images and maps with matplotlib."""

from math import ceil

import numpy as np

from kerascope.compat.keras_explainable.inspection import tolist
from kerascope.compat.tf_explain.utils.image import as_numpy

__all__ = ["tolist", "get_dims", "visualize"]


def get_dims(image):
    """Shape of an array or (nested) list of arrays."""
    if hasattr(image, "shape"):
        return tuple(image.shape)
    return (len(image), *get_dims(image[0]))


def _plain(image):
    if image is None:
        return None
    image = np.asarray(as_numpy(image))
    if image.ndim > 2 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def visualize(images, titles=None, overlays=None, overlay_alpha=0.75, rows=None, cols=None,
              figsize=None, cmap=None, overlay_cmap=None, to_file=None, to_buffer=None,
              subplots_ws=0.0, subplots_hs=0.0):
    """Show ``images`` (a list, or a batch) in a grid of at most 8 columns.

    ``titles``: one per image; ``overlays``: maps drawn over the images (None to skip
    one) with ``overlay_alpha`` and ``overlay_cmap``; ``to_file``: save the figure there;
    ``to_buffer``: save it to this ``io.BytesIO`` and return it as a PIL image. Images
    may be numpy arrays or backend tensors; a trailing channel of 1 is dropped.
    """
    import matplotlib.pyplot as plt

    rank = len(get_dims(images))
    if isinstance(images, (list, tuple)) or rank > 3:
        images = list(images)
    else:
        images = [images]
    if not images:
        raise ValueError("images: expected at least one image.")
    if rows is None and cols is None:
        cols = min(8, len(images))
        rows = ceil(len(images) / cols)
    elif rows is None:
        rows = ceil(len(images) / cols)
    elif cols is None:
        cols = ceil(len(images) / rows)
    figure = plt.figure(figsize=figsize or (4 * cols, 4 * rows))
    for index, image in enumerate(images):
        plt.subplot(rows, cols, index + 1)
        image = _plain(image)
        if image is not None:
            plt.imshow(image, cmap=cmap)
            if overlays is not None and len(overlays) > index and overlays[index] is not None:
                plt.imshow(_plain(overlays[index]), overlay_cmap, alpha=overlay_alpha)
        if titles is not None and len(titles) > index:
            plt.title(titles[index])
        plt.axis("off")
    plt.tight_layout()
    plt.subplots_adjust(wspace=subplots_ws, hspace=subplots_hs)
    if to_buffer is not None:
        figure.savefig(to_buffer)
        plt.close(figure)
        to_buffer.seek(0)
        from PIL import Image

        return Image.open(to_buffer)
    if to_file is not None:
        figure.savefig(to_file)
        plt.close(figure)
    return None

