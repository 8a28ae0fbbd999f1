"""Losses: identity (label-smoothed CE), triplet (batch-hard, WRT), and the objective combining them."""

from sfcl.losses.identity import CrossEntropyLabelSmooth
from sfcl.losses.objective import ReIDObjective
from sfcl.losses.triplet import BatchHardTripletLoss, WeightedRegularizedTriplet, euclidean_distances

__all__ = ["BatchHardTripletLoss", "CrossEntropyLabelSmooth", "ReIDObjective", "WeightedRegularizedTriplet",
           "euclidean_distances"]
