"""Coordinate helpers: GCJ-02 ↔ WGS-84 and a local metric projection for 越秀区.

GCJ-02 is the obfuscated datum used by Chinese web maps (Amap). The forward transform is the
published one (Krasovsky ellipsoid constants); the inverse has no closed form, so it is solved
by fixed-point iteration, which converges to well under a millimetre in a handful of steps.
The local projection is equirectangular around a fixed origin: at district scale (≈ 8 km) its
distance error is far below the 1 m that matters for grid boundaries, and being affine it maps
straight lines to straight lines, so Voronoi cells built in metres stay exact in degrees.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as in the published GCJ-02 formula
_EE = 0.00669342162296594323  # Krasovsky first eccentricity squared
_EARTH_RADIUS_M = 6371008.8  # mean Earth radius for the local projection


def _offset_raw(x: float, y: float) -> tuple[float, float]:
    """The GCJ-02 polynomial+sine offset in its native (unscaled) units for x=lng-105, y=lat-35."""
    lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    lng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    lat += common
    lng += common
    lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    lng += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    lng += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return lat, lng


def _gcj_delta(lat: float, lng: float) -> tuple[float, float]:
    """GCJ-02 offset in degrees (dlat, dlng) to add to a WGS-84 point."""
    dlat, dlng = _offset_raw(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Forward transform WGS-84 → GCJ-02 (mainland China; the district is well inside).

    Args:
        lat: WGS-84 latitude in degrees.
        lng: WGS-84 longitude in degrees.

    Returns:
        (lat, lng) in GCJ-02.
    """
    dlat, dlng = _gcj_delta(lat, lng)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(
    lat: float, lng: float, tolerance_deg: float = 1e-10, max_iter: int = 30
) -> tuple[float, float]:
    """Inverse transform GCJ-02 → WGS-84 by fixed-point iteration on the forward transform.

    Args:
        lat: GCJ-02 latitude in degrees.
        lng: GCJ-02 longitude in degrees.
        tolerance_deg: stop when the forward image is this close to the input.
        max_iter: safety bound; the offset field is smooth, so 3-5 steps suffice.

    Returns:
        (lat, lng) in WGS-84.
    """
    wlat, wlng = lat, lng
    for _ in range(max_iter):
        glat, glng = wgs84_to_gcj02(wlat, wlng)
        err_lat, err_lng = glat - lat, glng - lng
        if abs(err_lat) < tolerance_deg and abs(err_lng) < tolerance_deg:
            break
        wlat, wlng = wlat - err_lat, wlng - err_lng
    return wlat, wlng


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection to metres around (lat0, lng0); affine, hence line-preserving."""

    lat0: float
    lng0: float

    @property
    def m_per_deg_lat(self) -> float:
        return _EARTH_RADIUS_M * math.pi / 180.0

    @property
    def m_per_deg_lng(self) -> float:
        return self.m_per_deg_lat * math.cos(math.radians(self.lat0))

    def to_xy(self, lng: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Degrees → metres (x east, y north)."""
        x = (np.asarray(lng, dtype=float) - self.lng0) * self.m_per_deg_lng
        y = (np.asarray(lat, dtype=float) - self.lat0) * self.m_per_deg_lat
        return x, y

    def to_lnglat(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Metres → degrees (lng, lat)."""
        lng = np.asarray(x, dtype=float) / self.m_per_deg_lng + self.lng0
        lat = np.asarray(y, dtype=float) / self.m_per_deg_lat + self.lat0
        return lng, lat

    def coords_to_xy(self, coords: np.ndarray) -> np.ndarray:
        """An (n, 2) array of (lng, lat) → (n, 2) metres, for `shapely.transform`."""
        x, y = self.to_xy(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def coords_to_lnglat(self, coords: np.ndarray) -> np.ndarray:
        """An (n, 2) array of metres → (n, 2) (lng, lat), for `shapely.transform`."""
        lng, lat = self.to_lnglat(coords[:, 0], coords[:, 1])
        return np.column_stack([lng, lat])

    @property
    def m2_per_deg2(self) -> float:
        """Area scale: square metres per square degree (lng × lat)."""
        return self.m_per_deg_lat * self.m_per_deg_lng


# Fixed origin near the district centre: every generated file and every distance uses this one.
YUEXIU_PROJECTION = LocalProjection(lat0=23.13, lng0=113.28)
