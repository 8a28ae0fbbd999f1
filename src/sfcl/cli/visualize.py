"""``sfcl visualize {swap,spectra,ranks}`` and ``sfcl query``: thin parsers over ``sfcl.visualize``.

``sfcl.cli.build_parser`` registers them with ``add_parsers(sub)``.
"""

from __future__ import annotations

import argparse

from sfcl.cli.args import size
from sfcl.data import dataset_names
from sfcl.errors import SfclError


def _cmd_swap(args: argparse.Namespace) -> int:
    from sfcl.visualize.swap import visualize_swap

    _, features, out = visualize_swap(args.vis, args.nir, args.out, checkpoint=args.checkpoint, device=args.device)
    print(f"swap figure ({'image and feature level' if features is not None else 'image level'}) written to {out}")
    return 0


def _cmd_spectra(args: argparse.Namespace) -> int:
    from sfcl.visualize.spectra import format_summary, visualize_spectra

    stats = visualize_spectra(args.data_root, args.out, occluded_root=args.occluded_root, dataset=args.dataset,
                              max_images=args.max_images, size=args.size)
    print(format_summary(stats))
    print(f"spectra figure written to {args.out}")
    return 0


def _cmd_ranks(args: argparse.Namespace) -> int:
    from sfcl.visualize.ranks import visualize_ranks

    ranked, paths = visualize_ranks(args.checkpoint, args.out, data_root=args.data_root,
                                    num_queries=args.num_queries, topk=args.topk, protocol=args.protocol,
                                    trial=args.trial, device=args.device)
    hits = sum(item.matches[0] for item in ranked if item.matches)
    print(f"{len(ranked)} queries, rank-1 correct for {hits}; pictures in {paths[-1].parent} (overview {paths[-1].name})")
    return 0


def _cmd_tsne(args: argparse.Namespace) -> int:
    from sfcl.visualize.tsne import embed_checkpoint, render_tsne

    embedded = embed_checkpoint(args.checkpoint, data_root=args.data_root, num_ids=args.num_ids,
                                protocol=args.protocol, trial=args.trial, device=args.device, seed=args.seed,
                                perplexity=args.perplexity)
    out = render_tsne(embedded, args.out)
    print(f"t-SNE of {len(embedded.samples)} images ({int(embedded.occluded.sum())} occluded) written to {out}")
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from sfcl.visualize.query import query_gallery

    if args.no_cache and args.cache_dir is not None:
        raise SfclError("sfcl query: give --cache-dir or --no-cache, not both")
    result = query_gallery(args.checkpoint, args.gallery, args.image, modality=args.modality,
                           gallery_modality=args.gallery_modality, topk=args.topk, cache_dir=args.cache_dir,
                           use_cache=not args.no_cache, device=args.device, save=args.save)
    print(f"query {result.query}: {result.gallery_size} gallery images ({result.computed} computed, "
          f"{result.gallery_size - result.computed} from the cache)")
    print("rank  1-cos   path")
    print("\n".join(result.lines()))
    if args.save is not None:
        print(f"picture written to {args.save}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``visualize {swap,spectra,ranks}`` and ``query`` on the ``sfcl`` subparsers."""
    p = sub.add_parser("visualize", help="figures: amplitude/phase swap, dataset spectra, rank lists, t-SNE")
    vis = p.add_subparsers(dest="visualize_command", required=True, help="which figure")

    s = vis.add_parser("swap", help="exchange amplitude and phase of a visible and an infrared image (Figure 1)")
    s.add_argument("--vis", required=True, help="visible (colour) image")
    s.add_argument("--nir", required=True, help="infrared (grey) image, resized to the visible size")
    s.add_argument("--out", required=True, help="PNG to write")
    s.add_argument("--checkpoint", default=None, help="also swap the backbone feature maps of this checkpoint")
    s.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:1")
    s.set_defaults(func=_cmd_swap)

    s = vis.add_parser("spectra", help="mean log-amplitude spectra per modality; modality vs occlusion differences")
    s.add_argument("--data-root", required=True, help="dataset folder (SYSU-MM01 layout; SynthVI works)")
    s.add_argument("--out", required=True, help="PNG to write")
    s.add_argument("--occluded-root", default=None, help="its occluded copy made by sfcl occlude")
    s.add_argument("--dataset", default="sysu", choices=dataset_names(), help="layout of --data-root")
    s.add_argument("--max-images", type=int, default=400, help="images per modality (evenly spaced)")
    s.add_argument("--size", type=size, default=(288, 144), help="HEIGHTxWIDTH images are resized to")
    s.set_defaults(func=_cmd_spectra)

    s = vis.add_parser("ranks", help="ranked gallery pictures for test queries of a checkpoint's dataset")
    s.add_argument("--checkpoint", required=True, help="checkpoint written by sfcl train")
    s.add_argument("--out", required=True, help="folder for one PNG per query and ranks.png")
    s.add_argument("--data-root", default=None, help="dataset folder (default: the checkpoint config's)")
    s.add_argument("--num-queries", type=int, default=8, help="query rows in the figure")
    s.add_argument("--topk", type=int, default=10, help="gallery images shown per query")
    s.add_argument("--protocol", default=None, help="default: the dataset's infrared-query protocol")
    s.add_argument("--trial", type=int, default=0, help="gallery trial")
    s.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:1")
    s.set_defaults(func=_cmd_ranks)

    s = vis.add_parser("tsne", help="2-D t-SNE of a checkpoint's test features: colour identity, marker modality")
    s.add_argument("--checkpoint", required=True, help="checkpoint written by sfcl train")
    s.add_argument("--out", required=True, help="PNG to write")
    s.add_argument("--data-root", default=None, help="dataset folder (default: the checkpoint config's)")
    s.add_argument("--num-ids", type=int, default=20, help="test identities drawn (the first, sorted)")
    s.add_argument("--protocol", default=None, help="default: the dataset's infrared-query protocol")
    s.add_argument("--trial", type=int, default=0, help="gallery trial")
    s.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (capped below N / 3)")
    s.add_argument("--seed", type=int, default=0, help="t-SNE random state")
    s.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:1")
    s.set_defaults(func=_cmd_tsne)

    p = sub.add_parser("query", help="rank a folder of gallery images for one query image")
    p.add_argument("--checkpoint", required=True, help="checkpoint written by sfcl train")
    p.add_argument("--gallery", required=True, help="folder of .jpg/.png images (searched recursively)")
    p.add_argument("--image", required=True, help="the query image")
    p.add_argument("--modality", default="nir", choices=["nir", "vis"], help="modality of the query image")
    p.add_argument("--gallery-modality", default=None, choices=["vis", "nir", "auto"],
                   help="default: the other modality; auto: grey images infrared, colour ones visible")
    p.add_argument("--topk", type=int, default=10, help="gallery matches listed")
    p.add_argument("--save", default=None, help="also write the ranked picture to this PNG")
    p.add_argument("--cache-dir", default=None, help="gallery feature cache (default: ~/.cache/sfcl/gallery)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:1")
    p.set_defaults(func=_cmd_query)
