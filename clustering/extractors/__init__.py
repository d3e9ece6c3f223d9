"""Feature extractors, registered by name: raw, dense_ae, conv_ae, unet, vae, patch_kmeans, hog,
efficientnet.

Import order is registration order, which is the order `all` expands to and reports list.
"""

# isort: off
from clustering.extractors.base import EXTRACTORS, Extractor
from clustering.extractors.raw import RawPixels
from clustering.extractors.dense_ae import DenseAutoencoder
from clustering.extractors.conv_ae import ConvAutoencoder
from clustering.extractors.unet import UNet
from clustering.extractors.vae import VariationalAutoencoder
from clustering.extractors.patch_kmeans import PatchKMeans
from clustering.extractors.hog import HOG
from clustering.extractors.efficientnet import EfficientNetLite0
from clustering.extractors.keras_base import KerasExtractor, TrainingDiverged
# isort: on

__all__ = [
    "EXTRACTORS",
    "ConvAutoencoder",
    "DenseAutoencoder",
    "EfficientNetLite0",
    "Extractor",
    "HOG",
    "KerasExtractor",
    "PatchKMeans",
    "RawPixels",
    "TrainingDiverged",
    "UNet",
    "VariationalAutoencoder",
]
