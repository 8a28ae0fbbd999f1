"""Cross-modal frequency attention (CFAM step 3).

The visible branch's amplitude tokens are the queries over the infrared
amplitude tokens (keys and values), and the same for phase; the infrared
branch runs the reverse direction with the same weights. One module per
spectrum component (amplitude, phase):

    out = q + MHA(LN_q(q), LN_kv(partner), LN_kv(partner)) ;  out = out + MLP(LN(out))
"""

from __future__ import annotations

from torch import Tensor, nn

from sfcl.models.trans_mamba import MLP


class CrossModalFrequencyAttention(nn.Module):
    """query (B, L, C) of one modality, partner (B, L', C) of the other -> (B, L, C)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.norm_partner = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_out = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, query: Tensor, partner: Tensor) -> Tensor:
        if query.dim() != 3 or partner.dim() != 3 or query.shape[0] != partner.shape[0] \
                or query.shape[-1] != partner.shape[-1]:
            raise ValueError(f"cross attention expects (B, L, C) tokens, got {tuple(query.shape)} "
                             f"and {tuple(partner.shape)}")
        context = self.norm_partner(partner)
        x = query + self.attn(self.norm_query(query), context, context, need_weights=False)[0]
        return x + self.mlp(self.norm_out(x))
