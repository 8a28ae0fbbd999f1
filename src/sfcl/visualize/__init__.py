"""Looking at results: the amplitude/phase swap figure, dataset spectra, rank lists, and gallery queries.

``swap.visualize_swap``      the paper's Figure 1 (image level, and feature level with a checkpoint)
``spectra.visualize_spectra`` mean log-amplitude spectra per modality, modality vs occlusion differences
``ranks.visualize_ranks``    ranked gallery rows for test queries of a checkpoint's dataset
``query.query_gallery``      rank a folder of images for one query image, gallery features cached

Submodules import matplotlib only inside the functions that draw figures.
"""

from sfcl.visualize.query import QueryResult, query_gallery
from sfcl.visualize.ranks import RankedQuery, visualize_ranks
from sfcl.visualize.spectra import SpectraStats, visualize_spectra
from sfcl.visualize.swap import ImageSwap, visualize_swap

__all__ = ["ImageSwap", "QueryResult", "RankedQuery", "SpectraStats", "query_gallery", "visualize_ranks",
           "visualize_spectra", "visualize_swap"]
