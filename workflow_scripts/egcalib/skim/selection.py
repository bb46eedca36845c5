"""Event and object selections (docs/design.md#selections-and-labels), truth matching, data labels,
cutflows.

Columnar: every function works on awkward arrays of whole chunks of events. A selection returns
the selected objects as a jagged array (per event) of records, plus an ordered cutflow of
(cut, events, objects) after every step. Cut values come from ``config["selection"]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import vector

from egcalib.core.kinematics import MUON_MASS, massless_momenta
from egcalib.skim.branch_types import require_mask

vector.register_awkward()


@dataclass
class Cutflow:
    """Ordered counts of events and objects after every cut.

    ``kinematic`` names the cuts on the skimmed objects' kinematics (ET), so that a file whose
    first kinematic cut removes every object can be reported (``warnings``)."""

    steps: list[dict] = field(default_factory=list)
    kinematic: list[str] = field(default_factory=list)

    def add(self, cut: str, events: int, objects: int, kinematic: bool = False) -> None:
        """Append step ``cut`` with its counts of events and objects; ``kinematic``: a cut on
        the objects' kinematics (see ``warnings``)."""
        self.steps.append({"cut": cut, "events": int(events), "objects": int(objects)})
        if kinematic and cut not in self.kinematic:
            self.kinematic.append(cut)

    def warnings(self) -> list[str]:
        """A warning when the first kinematic cut removes every object that reached it: with
        objects in the file this is almost always units or a misread branch, not physics."""
        for before, step in zip(self.steps, self.steps[1:]):
            if step["cut"] in self.kinematic:
                if before["objects"] > 0 and step["objects"] == 0:
                    return [
                        f"the first kinematic cut '{step['cut']}' removes all "
                        f"{before['objects']} objects that reach it (after "
                        f"'{before['cut']}'): check the energy units and branch mapping"
                    ]
                return []
        return []

    def add_objects(self, cut: str, objects: ak.Array, kinematic: bool = False) -> None:
        """Count objects (jagged) and the events that still have at least one."""
        self.add(cut, ak.sum(ak.num(objects) > 0), ak.sum(ak.num(objects)), kinematic)

    def __iadd__(self, other: Cutflow) -> Cutflow:
        """Add ``other``'s counts step by step (another chunk or file of the same selection);
        raises ValueError if its cuts differ."""
        self.kinematic += [cut for cut in other.kinematic if cut not in self.kinematic]
        if not self.steps:
            self.steps = [dict(step) for step in other.steps]
            return self
        if [s["cut"] for s in self.steps] != [s["cut"] for s in other.steps]:
            raise ValueError("cutflows with different cuts cannot be added")
        for mine, theirs in zip(self.steps, other.steps):
            mine["events"] += theirs["events"]
            mine["objects"] += theirs["objects"]
        return self


def collection(events: ak.Array, prefix: str, names: Iterable[str]) -> ak.Array:
    """Zip the ``prefix_*`` fields of ``events`` (per object, jagged (n_events, var)) into one
    jagged record array (n_events, var) with fields ``names``."""
    return ak.zip({name: events[f"{prefix}_{name}"] for name in names}, depth_limit=2)


def _et(objects):
    return objects.e / np.cosh(objects.eta)


def valid_energy(objects: ak.Array, is_mc: bool) -> ak.Array:
    """Mask (n_events, var) of the objects (n_events, var; fields e [GeV], eta, and truth_e
    [GeV] for MC) with a finite positive energy, a finite eta and (MC) a finite truth energy:
    NaN or negative energies are dropped (and counted) before any physics cut."""
    ok = np.isfinite(objects.e) & (objects.e > 0) & np.isfinite(objects.eta)
    if is_mc:
        ok = ok & np.isfinite(objects.truth_e)
    return ok


def truth_matched(objects: ak.Array, k: float) -> ak.Array:
    """Mask (n_events, var) of |E_reco / E_truth - 1| < k, E_reco being the baseline energy
    ``e`` and E_truth ``truth_e`` [GeV] of the objects (n_events, var) (k = 0.6 in the seed);
    False where E_truth <= 0."""
    ratio = objects.e / ak.where(objects.truth_e > 0, objects.truth_e, np.nan)
    return ak.fill_none(np.abs(ratio - 1.0) < k, False) & (objects.truth_e > 0)


def z_mass_label(probe_eta: Any, tag_et: Any, tag_eta: Any, d_phi: Any, z_mass: float) -> Any:
    """E_label = M_Z^2 cosh(eta_probe) / (2 E_T,tag (cosh(d_eta) - cos(d_phi))) [GeV] (seed 000).

    Arguments of one shape (numbers, numpy or awkward arrays, e.g. jagged (n_events, 2)): the
    probe's eta, the tag's E_T [GeV] and eta, d_phi = phi_probe - phi_tag [rad]; ``z_mass``
    [GeV]. The result has their shape."""
    return (
        z_mass**2
        * np.cosh(probe_eta)
        / (2.0 * tag_et * (np.cosh(probe_eta - tag_eta) - np.cos(d_phi)))
    )


def _object_cuts(objects, kind, et_min, eta_max, id_flag, cutflow, is_mc, crack=None):
    """Valid energy, ET, |eta| (outside the ``crack`` (lo, hi) in |eta| if given) and
    identification (none when ``id_flag`` is None), each step in the cutflow."""
    objects = objects[valid_energy(objects, is_mc)]
    cutflow.add_objects(f"{kind}: valid energy", objects)
    objects = objects[_et(objects) > et_min]
    cutflow.add_objects(f"{kind}: ET > {et_min} GeV", objects, kinematic=True)
    objects = objects[np.abs(objects.eta) < eta_max]
    cutflow.add_objects(f"{kind}: abs(eta) < {eta_max}", objects)
    if crack is not None:
        lo, hi = crack
        objects = objects[~((np.abs(objects.eta) >= lo) & (np.abs(objects.eta) <= hi))]
        cutflow.add_objects(f"{kind}: abs(eta) outside [{lo}, {hi}]", objects)
    if id_flag is not None:
        objects = objects[require_mask(objects[id_flag], f"{kind} {id_flag}")]
        cutflow.add_objects(f"{kind}: {id_flag}", objects)
    return objects


def _photon_cuts(ph, cuts, cutflow, is_mc):
    """A process's photon cuts (``selection.zmumug``, ``selection.pgun`` or ``selection.jets``:
    photon_et_min, photon_eta_max, photon_id (null: no identification requirement) and, where
    the block has it, photon_eta_crack)."""
    crack = cuts.get("photon_eta_crack")
    et_min, eta_max, id_flag = cuts["photon_et_min"], cuts["photon_eta_max"], cuts["photon_id"]
    return _object_cuts(ph, "photon", et_min, eta_max, id_flag, cutflow, is_mc, crack=crack)


def _electron_cuts(el, sel, cutflow, is_mc):
    cuts = sel["electron"]
    return _object_cuts(el, "electron", cuts["et_min"], cuts["eta_max"], cuts["id"], cutflow, is_mc)


def select_zee(
    events: ak.Array, el: ak.Array, sel: dict, is_mc: bool, label: bool
) -> tuple[ak.Array, Cutflow]:
    """Z -> ee: exactly one opposite-charge pair of good electrons (events with more dropped).

    ``events`` (n_events,) with the trigger flags, ``el`` their electrons (n_events, var;
    ``collection``: e [GeV], eta, phi [rad], charge, the ID flags, truth_e [GeV] for MC);
    ``sel``: ``config["selection"]``. Returns the selected electrons (n_events, var) with
    m_candidate = m_ee [GeV] of their pair and e_label [GeV] (with ``label``: the Z-mass label
    of each probe in the mass window, else NaN), and the cutflow."""
    cutflow = Cutflow()
    cutflow.add("all", len(events), ak.sum(ak.num(el)))
    cuts = sel["zee"]
    trigger = require_mask(events[cuts["trigger"]], f"trigger {cuts['trigger']}")
    el = el[trigger]
    cutflow.add(f"trigger {cuts['trigger']}", ak.sum(trigger), ak.sum(ak.num(el)))
    el = _electron_cuts(el, sel, cutflow, is_mc)
    el = el[ak.num(el) == 2]  # fewer: no candidate; more: ambiguous, the event is dropped
    cutflow.add_objects("exactly two electrons", el)
    el = el[ak.fill_none(ak.sum(el.charge, axis=1) == 0, False)]
    cutflow.add_objects("opposite charge", el)
    pair = massless_momenta(el.e, el.eta, el.phi)
    mass = (pair[:, 0] + pair[:, 1]).mass
    el = ak.with_field(el, ak.broadcast_arrays(mass, el.e)[0], "m_candidate")
    el = ak.with_field(el, ak.full_like(el.e, np.nan), "e_label")
    if label:
        el = _add_z_labels(el, sel["data_label"], cutflow)
    if is_mc:
        el = el[truth_matched(el, sel["truth_match_k"])]
        cutflow.add_objects(f"truth matched (k = {sel['truth_match_k']})", el)
    return el, cutflow


def _add_z_labels(el, cuts, cutflow):
    """Each electron of a pair in the mass window is a probe; the other one is its tag."""
    lo, hi = cuts["mass_window"]
    in_window = (el.m_candidate > lo) & (el.m_candidate < hi)
    tag = el[:, ::-1]
    labels = z_mass_label(el.eta, _et(tag), tag.eta, el.phi - tag.phi, cuts["z_mass"])
    el = ak.with_field(el, ak.where(in_window, labels, np.nan), "e_label")
    cutflow.add("labelled (m_ee window)", ak.sum(ak.any(in_window, axis=1)), ak.sum(in_window))
    return el


def select_zmumug(
    events: ak.Array, ph: ak.Array, mu: ak.Array, sel: dict, is_mc: bool
) -> tuple[ak.Array, Cutflow]:
    """Z -> mumu gamma: two opposite-charge muons, exactly one photon, 20 < m_mumu < 82 GeV.

    ``events`` (n_events,) with the trigger flags; ``ph`` the photons and ``mu`` the muons
    (n_events, var; e or pt [GeV], eta, phi [rad], charge, ID flags); ``sel``:
    ``config["selection"]``. Returns the selected photons (n_events, var) with m_candidate =
    m_mumugamma [GeV], the dimuon system mumu_pt [GeV], mumu_eta, mumu_phi [rad], mumu_m [GeV],
    e_label NaN, and the cutflow."""
    cuts = sel["zmumug"]
    cutflow = Cutflow()
    cutflow.add("all", len(events), ak.sum(ak.num(ph)))
    trigger = require_mask(events[cuts["trigger"]], f"trigger {cuts['trigger']}")
    ph, mu = ph[trigger], mu[trigger]
    cutflow.add(f"trigger {cuts['trigger']}", ak.sum(trigger), ak.sum(ak.num(ph)))
    good_mu = (
        (mu.pt > cuts["muon_pt_min"])
        & (np.abs(mu.eta) < cuts["muon_eta_max"])
        & require_mask(mu[cuts["muon_id"]], f"muon {cuts['muon_id']}")
    )
    mu = mu[good_mu]
    two = ak.num(mu) == 2
    ph, mu = ph[two], mu[two]
    cutflow.add("exactly two good muons", ak.sum(two), ak.sum(ak.num(ph)))
    opposite = ak.fill_none(ak.sum(mu.charge, axis=1) == 0, False)
    ph, mu = ph[opposite], mu[opposite]
    cutflow.add("opposite-charge muons", ak.sum(opposite), ak.sum(ak.num(ph)))
    ph = _photon_cuts(ph, cuts, cutflow, is_mc)
    muons = ak.zip(
        {"pt": mu.pt, "eta": mu.eta, "phi": mu.phi, "mass": ak.full_like(mu.pt, MUON_MASS)},
        with_name="Momentum4D",
    )
    photons = massless_momenta(ph.e, ph.eta, ph.phi)
    d_r = ak.min(photons[:, :, None].deltaR(muons[:, None, :]), axis=2)
    ph = ph[ak.fill_none(d_r > cuts["min_delta_r_mu_gamma"], False)]
    cutflow.add_objects(f"photon: dR(mu, gamma) > {cuts['min_delta_r_mu_gamma']}", ph)
    mumu = muons[:, 0] + muons[:, 1]
    lo, hi = cuts["mumu_mass"]
    window = (mumu.mass > lo) & (mumu.mass < hi)
    ph, mumu = ph[window], mumu[window]
    cutflow.add_objects(f"{lo} < m_mumu < {hi} GeV", ph)
    one = ak.num(ph) == 1
    ph, mumu = ph[one], mumu[one]
    cutflow.add_objects("exactly one candidate", ph)
    system = ak.zip(
        {
            "pt": ak.broadcast_arrays(mumu.pt, ph.e)[0],
            "eta": ak.broadcast_arrays(mumu.eta, ph.e)[0],
            "phi": ak.broadcast_arrays(mumu.phi, ph.e)[0],
            "mass": ak.broadcast_arrays(mumu.mass, ph.e)[0],
        },
        with_name="Momentum4D",
    )
    ph = ak.with_field(ph, (massless_momenta(ph.e, ph.eta, ph.phi) + system).mass, "m_candidate")
    for name in ("pt", "eta", "phi", "mass"):
        ph = ak.with_field(ph, system[name], f"mumu_{'m' if name == 'mass' else name}")
    ph = ak.with_field(ph, ak.full_like(ph.e, np.nan), "e_label")
    if is_mc:
        ph = ph[truth_matched(ph, sel["truth_match_k"])]
        cutflow.add_objects(f"truth matched (k = {sel['truth_match_k']})", ph)
    return ph, cutflow


def _single_particles(
    objects: ak.Array, sel: dict, cutflow: Cutflow, is_mc: bool
) -> tuple[ak.Array, Cutflow]:
    """A particle gun's selected objects (n_events, var): no Z candidate and no data label
    (m_candidate, e_label NaN), truth matched in MC (the last cutflow step)."""
    objects = ak.with_field(objects, ak.full_like(objects.e, np.nan), "m_candidate")
    objects = ak.with_field(objects, ak.full_like(objects.e, np.nan), "e_label")
    if is_mc:
        objects = objects[truth_matched(objects, sel["truth_match_k"])]
        cutflow.add_objects(f"truth matched (k = {sel['truth_match_k']})", objects)
    return objects, cutflow


def select_egun(events: ak.Array, el: ak.Array, sel: dict, is_mc: bool) -> tuple[ak.Array, Cutflow]:
    """Single electrons: the electron cuts and truth matching, no event-level requirement.

    ``events`` (n_events,), ``el`` their electrons (n_events, var) as for ``select_zee``.
    Returns the selected electrons (n_events, var) with m_candidate and e_label NaN, and the
    cutflow."""
    cutflow = Cutflow()
    cutflow.add("all", len(events), ak.sum(ak.num(el)))
    el = _electron_cuts(el, sel, cutflow, is_mc)
    return _single_particles(el, sel, cutflow, is_mc)


def select_pgun(events: ak.Array, ph: ak.Array, sel: dict, is_mc: bool) -> tuple[ak.Array, Cutflow]:
    """Single photons: the ``pgun`` photon cuts (ET, |eta| outside the crack, identification)
    and truth matching, no event-level requirement, as ``select_egun`` for electrons.

    ``events`` (n_events,), ``ph`` their photons (n_events, var; e [GeV], eta, phi [rad], the
    ID flags, truth_e [GeV] for MC). Returns the selected photons (n_events, var) with
    m_candidate and e_label NaN, and the cutflow."""
    cuts = sel["pgun"]
    cutflow = Cutflow()
    cutflow.add("all", len(events), ak.sum(ak.num(ph)))
    ph = _photon_cuts(ph, cuts, cutflow, is_mc)
    return _single_particles(ph, sel, cutflow, is_mc)


def select_jets(events: ak.Array, ph: ak.Array, sel: dict, is_mc: bool) -> tuple[ak.Array, Cutflow]:
    """The photon candidates of jets (fakes, photon identification's background): the ``jets``
    photon cuts (ET, |eta| outside the crack, the identification if ``photon_id`` is not null),
    no event-level requirement and no truth matching: no candidate is a true photon of the
    hard process, and the identification study needs them all, whatever E/E_truth is.

    ``events`` (n_events,), ``ph`` their photons (n_events, var; e [GeV], eta, phi [rad], the
    ID flags, truth_e [GeV] for MC). Returns the selected photons (n_events, var) with
    m_candidate and e_label NaN, and the cutflow."""
    cutflow = Cutflow()
    cutflow.add("all", len(events), ak.sum(ak.num(ph)))
    ph = _photon_cuts(ph, sel["jets"], cutflow, is_mc)
    ph = ak.with_field(ph, ak.full_like(ph.e, np.nan), "m_candidate")
    ph = ak.with_field(ph, ak.full_like(ph.e, np.nan), "e_label")
    return ph, cutflow
