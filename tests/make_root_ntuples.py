"""Regenerate the real-ROOT test ntuples in tests/data/real_ntuples/ with ROOT itself.

Run with a Python that has PyROOT (the PyPI package ``root``, ROOT 6.40), e.g.

    python -m venv /tmp/rootenv && /tmp/rootenv/bin/pip install root numpy
    /tmp/rootenv/bin/python tests/make_root_ntuples.py

CI has no ROOT: the tests read only the committed files, with uproot. Every file is written
the way ntuple makers write them: a TTree with typed branches (std::vector, C-style arrays with
a counter branch, Char_t/UChar_t/Int_t flags, Double32_t/Float16_t leaves), filled event by
event, or an RNTuple written by RDataFrame.

The source is ``zee_bool.root`` (400 Z->ee MC events written by ROOT 6.40, the contract's
types: bool flags, std::vector<float> collections, flat cell windows). Each file below stores
the same events in one other convention (or, for the files that must fail, a small part of
them), so a correct reader skims every "same events" file to exactly what the reference gives:
448 objects from 224 events, median m_ee 91.17 GeV.

| file | storage | expected |
|---|---|---|
| zee_bool.root | reference (copied, not written here) | 448 objects |
| zee_trigchar.root | trigPassed_e Char_t; trigPassed_mu UChar_t, 0 in odd entries | 448 objects |
| zee_flagvectors.root | trigPassed_e Int_t of 1, 2, 3; vector<char>/vector<int> object flags | 448 objects |
| zee_nested.root | cells/times as vector<vector<float>>, one inner vector per object | 448 objects |
| zee_carrays.root | C-style arrays with counters; UChar_t/Char_t flags; el_pt Double32_t; el_e in MeV (same name) and el_calE_MeV | MeV error unmapped; 448 with el_e: "el_e / 1000" |
| zee_rntuple.root | RNTuple (RDataFrame snapshot) | 448 objects |
| zee_d32.root | el_e Double32_t with a range, [0,200,20] (60 events) | plausibility error (uproot 5.7.7 reads ~1e-40) |
| zee_float16.root | el_e Float16_t without range (60 events) | error naming el_e (uproot 5.7.7 cannot interpret it) |
| zee_friend.root | el_truth_* in a friend tree egamma_truth (60 events) | missing-branch error that says friends are not followed |
| zee_truthcollection.root | el_truth_* a collection of its own, one extra entry every 7th event (60 events) | error naming el_truth_e and el_e, their sizes and the first event |
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import ROOT

HERE = Path(__file__).resolve().parent / "data" / "real_ntuples"
SOURCE = HERE / "zee_bool.root"
LZMA_9 = 209  # ROOT compression setting: algorithm 2 (LZMA), level 9: the smallest files
SMALL = 60  # events in the files that must fail
MAX_OBJECTS = 64  # C-style array buffers

# Leaf codes (TTree::Branch leaf list) and numpy dtypes of the source's scalar branches.
LEAF_DTYPE = {
    "I": np.int32,
    "L": np.int64,
    "F": np.float32,
    "D": np.float64,
    "O": np.bool_,
    "B": np.int8,
    "b": np.uint8,
    "d": np.float64,
    "f": np.float32,
}
VECTOR_DTYPE = {
    "float": np.float32,
    "int": np.int32,
    "bool": np.bool_,
    "char": np.int8,
    "unsigned char": np.uint8,
    "double": np.float64,
}
CELL_SIZES = {"lr0": 35, "lr1": 280, "lr2": 77, "lr3": 77}


def read_source(path: Path):
    """(events as {branch: value}, {branch: 'scalar:<leaf code>' or 'vector:<type>'})."""
    file = ROOT.TFile.Open(str(path))
    tree = file.Get("egamma")
    kinds = {}
    for branch in tree.GetListOfBranches():
        name = branch.GetName()
        class_name = branch.GetClassName()
        if class_name.startswith("vector<"):
            kinds[name] = "vector:" + class_name[len("vector<") : -1]
        else:
            kinds[name] = "scalar:" + branch.GetTitle().rsplit("/", 1)[1]
    events = []
    for number, entry in enumerate(tree):
        event = {"entry": number}
        for name, kind in kinds.items():
            value = getattr(entry, name)
            if kind.startswith("vector:"):
                dtype = VECTOR_DTYPE[kind.split(":")[1]]
                event[name] = np.array([dtype(x) for x in value], dtype=dtype)
            else:
                event[name] = value
        events.append(event)
    file.Close()
    return events, kinds


class Writer:
    """One TTree whose branches are declared by storage kind and filled event by event."""

    def __init__(self, tree):
        self.tree = tree
        self.fillers = []
        self.counters = {}

    def scalar(self, name, leaf, source=None, compute=None):
        """A scalar leaf; ``compute(event)`` gives its value when it is not the source's."""
        buffer = np.zeros(1, LEAF_DTYPE[leaf])
        self.tree.Branch(name, buffer, f"{name}/{leaf}")
        self.fillers.append(
            lambda ev: buffer.__setitem__(0, compute(ev) if compute else ev[source or name])
        )

    def vector(self, name, ctype, source=None, transform=None):
        vec = ROOT.std.vector[ctype]()
        self.tree.Branch(name, vec)
        dtype = VECTOR_DTYPE[ctype]

        def fill(ev):
            values = np.asarray(ev[source or name])
            values = transform(values) if transform else values
            vec.clear()
            if ctype in ("bool", "char"):  # no buffer protocol for these element types
                for x in values:
                    vec.push_back(bool(x) if ctype == "bool" else chr(int(x)))
            elif len(values):
                vec.insert(vec.end(), values.astype(dtype))

        self.fillers.append(fill)

    def counter(self, name, collection):
        """An Int_t object count, filled from the length of ``collection``'s source branch."""
        buffer = np.zeros(1, np.int32)
        self.tree.Branch(name, buffer, f"{name}/I")
        self.fillers.append(lambda ev: buffer.__setitem__(0, len(ev[collection])))

    def carray(self, name, leaf, counter, source=None, transform=None, size=MAX_OBJECTS):
        """A C-style array ``name[counter]/leaf`` (leaf may carry a range, e.g. 'd[0,200,20]')."""
        buffer = np.zeros(size, LEAF_DTYPE[leaf[0]])
        self.tree.Branch(name, buffer, f"{name}[{counter}]/{leaf}")

        def fill(ev):
            values = np.asarray(ev[source or name])
            values = transform(values) if transform else values
            buffer[: len(values)] = values

        self.fillers.append(fill)

    def nested(self, name, size, source=None):
        """vector<vector<float>>: the flat window list cut into one inner vector per object."""
        outer = ROOT.std.vector[ROOT.std.vector["float"]]()
        self.tree.Branch(name, outer)

        def fill(ev):
            values = np.asarray(ev[source or name], np.float32).reshape(-1, size)
            outer.clear()
            for window in values:
                outer.push_back(ROOT.std.vector["float"](window))

        self.fillers.append(fill)

    def fill(self, event):
        for filler in self.fillers:
            filler(event)
        self.tree.Fill()


def same_as_source(writer, kinds, skip=()):
    """Declare every source branch not in ``skip`` with its source storage."""
    for name, kind in kinds.items():
        if name in skip:
            continue
        storage, ctype = kind.split(":")
        if storage == "vector":
            writer.vector(name, ctype)
        else:
            writer.scalar(name, ctype)


def write(path: Path, events, declare, tree_name="egamma", extra_trees=()):
    """Write one file: ``declare(writer)`` sets the branches; events are filled one by one."""
    file = ROOT.TFile(str(path), "RECREATE", "", LZMA_9)
    tree = ROOT.TTree(tree_name, "egcalib real-ROOT test ntuple")
    writer = Writer(tree)
    declare(writer)
    friends = []
    for name, declare_friend in extra_trees:
        friend = Writer(ROOT.TTree(name, "friend"))
        declare_friend(friend)
        friends.append(friend)
    for event in events:
        writer.fill(event)
        for friend in friends:
            friend.fill(event)
    for friend in friends:
        tree.AddFriend(friend.tree)
        friend.tree.Write()
    tree.Write()
    file.Close()
    print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")


def cells(name):
    return "_cells_" in name or "_time_" in name


def main(out: Path = HERE):
    events, kinds = read_source(SOURCE)
    small = events[:SMALL]

    def trigchar(w):
        w.scalar("trigPassed_e", "B")
        # UChar_t, 1 in even entries only (eventNumber = entry + 1 is odd): as a trigger it keeps
        # exactly the reference's objects of odd event numbers.
        w.scalar("trigPassed_mu", "b", compute=lambda ev: 1 - ev["entry"] % 2)
        same_as_source(w, kinds, skip={"trigPassed_e", "trigPassed_mu"})

    write(out / "zee_trigchar.root", events, trigchar)

    flag_vectors = {
        "el_isLoose": "char",
        "el_isTight": "int",
        "el_truth_matched": "char",
        "ph_isLoose": "char",
        "ph_isTight": "int",
        "mu_isMedium": "int",
        "ph_truth_matched": "int",
    }

    def flagvectors(w):
        w.scalar("trigPassed_e", "I", compute=lambda ev: 1 + ev["entry"] % 3)  # 1, 2, 3: true
        for name, ctype in flag_vectors.items():
            w.vector(name, ctype)
        same_as_source(w, kinds, skip={"trigPassed_e", *flag_vectors})

    write(out / "zee_flagvectors.root", events, flagvectors)

    def nested(w):
        for name in kinds:
            if cells(name):
                w.nested(name, CELL_SIZES[name.rsplit("_", 1)[1]])
        same_as_source(w, kinds, skip={n for n in kinds if cells(n)})

    write(out / "zee_nested.root", events, nested)

    def carrays(w, e_leaf="F", e_transform=lambda e: e * 1000.0, mev_copy=True):
        """C-style arrays, one counter per collection (cell windows: one per branch); el_e
        stored as ``e_leaf`` after ``e_transform`` (default: MeV), plus el_calE_MeV."""
        for name in kinds:
            if cells(name):
                w.counter(f"n{name}", name)
                w.carray(name, "F", f"n{name}", size=MAX_OBJECTS * 280)
        for prefix in ("el", "ph", "mu", "trk"):
            w.counter(f"n{prefix}", f"{prefix}_eta")
            for name, kind in kinds.items():
                if not name.startswith(prefix + "_") or cells(name):
                    continue
                ctype = kind.split(":")[1]
                leaf = {"float": "F", "int": "I", "bool": "O"}[ctype]
                if name == "el_isLoose":
                    leaf = "b"  # UChar_t
                elif name == "el_isTight":
                    leaf = "B"  # Char_t
                elif name == "el_pt":
                    leaf = "d"  # Double32_t without range: stored as float, read as double
                if name == "el_e":
                    w.carray("el_e", e_leaf, "nel", transform=e_transform)
                    continue
                w.carray(name, leaf, f"n{prefix}")
        if mev_copy:
            w.carray("el_calE_MeV", "F", "nel", source="el_e", transform=lambda e: e * 1000.0)
        for name, kind in kinds.items():
            if kind.startswith("scalar:"):
                w.scalar(name, kind.split(":")[1])

    write(out / "zee_carrays.root", events, carrays)

    def d32(w):
        carrays(w, e_leaf="d[0,200,20]", e_transform=None, mev_copy=False)

    write(out / "zee_d32.root", small, d32)

    def float16(w):
        carrays(w, e_leaf="f", e_transform=None, mev_copy=False)

    write(out / "zee_float16.root", small, float16)

    truth = [n for n in kinds if n.startswith("el_truth_")]

    def without_truth(w):
        same_as_source(w, kinds, skip=set(truth))

    def truth_friend(w):
        for name in truth:
            w.vector(name, kinds[name].split(":")[1])

    write(
        out / "zee_friend.root", small, without_truth, extra_trees=[("egamma_truth", truth_friend)]
    )

    def truth_collection(w):
        """Truth particles as a collection of their own: every 7th event has an extra one."""
        for name in truth:
            ctype = kinds[name].split(":")[1]
            w.vector(name, ctype)
        same_as_source(w, kinds, skip=set(truth))

    longer = []
    for i, event in enumerate(small):
        event = dict(event)
        if i % 7 == 6:
            for name in truth:
                event[name] = np.append(
                    event[name],
                    event[name][:1] if len(event[name]) else np.zeros(1, event[name].dtype),
                )
        longer.append(event)
    write(out / "zee_truthcollection.root", longer, truth_collection)

    frame = ROOT.RDataFrame("egamma", str(SOURCE))
    options = ROOT.RDF.RSnapshotOptions()
    options.fOutputFormat = ROOT.RDF.ESnapshotOutputFormat.kRNTuple
    options.fCompression = LZMA_9
    frame.Snapshot("egamma", str(out / "zee_rntuple.root"), frame.GetColumnNames(), options)
    print(f"zee_rntuple.root: {(out / 'zee_rntuple.root').stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
