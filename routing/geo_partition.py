"""Deterministic partition of a polygon into cells: lattice sample → seeded Lloyd → clipped Voronoi.

Used by `routing.build_geo` to split the real 街道 polygons into synthetic communities, and the
communities into grids. Everything here is deterministic (regular lattices, farthest-point
initialisation, a fixed number of Lloyd steps), so the generated files are reproducible.
Cells are intersected with the region on a 1e-6° precision grid (6 decimals, ≈ 0.1 m);
`exact_coverage` then nodes all borders in one pass, so neighbouring cells share exactly the
same borders and tile the region without gaps or overlaps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from routing.coords import LocalProjection

logger = logging.getLogger(__name__)

GRID_SIZE_DEG = 1e-6  # output precision: 6 decimals, ≈ 0.1 m
LLOYD_STEPS = 40


def allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split `total` into integers proportional to `weights` (largest remainder), each ≥ `minimum`.

    Args:
        total: the exact sum wanted.
        weights: non-negative weights, one per bucket.
        minimum: floor for every bucket.

    Returns:
        One count per weight, summing to `total`.

    Raises:
        ValueError: if `total` cannot cover the minimum of every bucket.
    """
    n = len(weights)
    if total < minimum * n:
        raise ValueError(f"cannot give {n} buckets at least {minimum} each out of {total}")
    spare = total - minimum * n
    wsum = float(sum(weights))
    quotas = [spare * w / wsum for w in weights]
    counts = [minimum + math.floor(q) for q in quotas]
    order = sorted(range(n), key=lambda i: (-(quotas[i] - math.floor(quotas[i])), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def lattice_points(region_m: BaseGeometry, target_count: int) -> np.ndarray:
    """A regular square lattice of about `target_count` points inside `region_m` (metres)."""
    spacing = math.sqrt(region_m.area / max(target_count, 1))
    minx, miny, maxx, maxy = region_m.bounds
    xs = np.arange(minx + spacing / 2, maxx, spacing)
    ys = np.arange(miny + spacing / 2, maxy, spacing)
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(region_m, gx, gy)
    return np.column_stack([gx[inside], gy[inside]])


def _farthest_point_init(points: np.ndarray, fixed: np.ndarray, n_free: int) -> np.ndarray:
    """Pick `n_free` lattice points, each farthest from every seed chosen so far."""
    chosen: list[np.ndarray] = []
    if len(fixed):
        dist = np.min(np.linalg.norm(points[:, None, :] - fixed[None, :, :], axis=2), axis=1)
    else:
        first = points[int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))]
        chosen.append(first)  # start from the most central lattice point
        dist = np.linalg.norm(points - first, axis=1)
    while len(chosen) < n_free:
        idx = int(np.argmax(dist))
        chosen.append(points[idx])
        dist = np.minimum(dist, np.linalg.norm(points - points[idx], axis=1))
    return np.array(chosen[:n_free], dtype=float).reshape(-1, 2)


def place_seeds(points: np.ndarray, fixed: np.ndarray, n_free: int, steps: int = LLOYD_STEPS) -> np.ndarray:
    """Lloyd (k-means) over the lattice with some seeds pinned; returns the free seeds.

    Args:
        points: (m, 2) lattice points in metres.
        fixed: (k, 2) pinned seeds (real centroids); they attract their share of points but never move.
        n_free: how many free seeds to place.
        steps: Lloyd iterations.

    Returns:
        (n_free, 2) free seed positions in metres.
    """
    if n_free == 0:
        return np.zeros((0, 2))
    free = _farthest_point_init(points, fixed, n_free)
    for _ in range(steps):
        seeds = np.vstack([fixed, free]) if len(fixed) else free
        d2 = ((points[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
        owner = np.argmin(d2, axis=1)
        for j in range(n_free):
            mine = points[owner == len(fixed) + j]
            if len(mine):
                free[j] = mine.mean(axis=0)
    return free


def voronoi_cells(
    seeds_m: np.ndarray, region_ll: BaseGeometry, projection: LocalProjection
) -> list[BaseGeometry]:
    """Voronoi cells of `seeds_m` clipped to `region_ll`, in lon/lat, one per seed in seed order."""
    if len(seeds_m) == 1:
        return [region_ll]
    region_m = shapely.transform(region_ll, projection.coords_to_xy)
    cells_m = shapely.voronoi_polygons(MultiPoint(seeds_m), extend_to=region_m.buffer(500), ordered=True)
    cells = []
    for cell_m in cells_m.geoms:
        cell_ll = shapely.transform(cell_m, projection.coords_to_lnglat)
        cells.append(_polygonal(shapely.intersection(cell_ll, region_ll, grid_size=GRID_SIZE_DEG)))
    return absorb_fragments(cells)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Drop points and lines that an overlay may leave beside the polygons."""
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    return shapely.union_all(parts, grid_size=GRID_SIZE_DEG) if parts else Polygon()


def absorb_fragments(cells: list[BaseGeometry]) -> list[BaseGeometry]:
    """Give each detached fragment of a cell to the neighbour sharing the longest border with it.

    A Voronoi cell clipped to a non-convex region can fall apart; a cell keeps its largest
    part, and every other part joins the touching cell with the longest common boundary.
    Fragments that touch no other cell (islands) stay where they are.
    """
    cells = list(cells)
    for i in range(len(cells)):
        if not isinstance(cells[i], MultiPolygon):
            continue
        parts = sorted(cells[i].geoms, key=lambda p: -p.area)
        keep = [parts[0]]
        for frag in parts[1:]:
            best, best_len = -1, 0.0
            for j, other in enumerate(cells):
                if j == i or not frag.intersects(other):
                    continue
                shared = shapely.intersection(frag.boundary, other.boundary).length
                if shared > best_len:
                    best, best_len = j, shared
            if best < 0:
                keep.append(frag)
            else:
                cells[best] = _polygonal(shapely.union(cells[best], frag, grid_size=GRID_SIZE_DEG))
        cells[i] = keep[0] if len(keep) == 1 else MultiPolygon(keep)
    return cells


def reading_order(
    geoms: Sequence[BaseGeometry], projection: LocalProjection, band_m: float = 150.0
) -> list[int]:
    """Indices of `geoms` sorted north→south in bands of `band_m`, then west→east (for numbering)."""

    def key(i: int) -> tuple[int, float]:
        p = geoms[i].representative_point()
        x, y = projection.to_xy(p.x, p.y)
        return (-int(math.floor(float(y) / band_m)), float(x))

    return sorted(range(len(geoms)), key=key)


def exact_coverage(geoms: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    """Turn polygons that tile up to float noise into an exact coverage (shared borders, no slivers).

    Each cell was clipped on its own, so snap rounding may bend a shared border differently on
    either side, leaving slivers a few centimetres wide. Noding all borders together in one
    snap-rounding pass and polygonizing gives faces that meet exactly; each face goes back to
    the cell that holds its interior point (a sliver face: to the cell it overlaps most).
    """
    lines = shapely.union_all([g.boundary for g in geoms], grid_size=GRID_SIZE_DEG)
    faces = list(shapely.polygonize(list(getattr(lines, "geoms", [lines]))).geoms)
    tree = shapely.STRtree(geoms)
    by_cell: dict[int, list[BaseGeometry]] = {}
    for face in faces:
        hits = tree.query(face.point_on_surface(), predicate="intersects")
        if len(hits) != 1:
            near = tree.query(face, predicate="intersects")
            hits = [max(near.tolist(), key=lambda j: (shapely.intersection(face, geoms[j]).area, -j))]
        by_cell.setdefault(int(hits[0]), []).append(face)
    out = []
    for i in range(len(geoms)):
        if i not in by_cell:
            raise ValueError(f"cell {i} lost every face while building the coverage")
        out.append(_single(_polygonal(shapely.union_all(by_cell[i], grid_size=GRID_SIZE_DEG))))
    return [_single(g) for g in absorb_fragments(out)]


def _single(geom: BaseGeometry) -> BaseGeometry:
    """A one-part MultiPolygon as the Polygon it is."""
    return geom.geoms[0] if isinstance(geom, MultiPolygon) and len(geom.geoms) == 1 else geom
