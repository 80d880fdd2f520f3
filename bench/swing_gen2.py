"""An independent labelled trade-stream generator for evaluating the swing detector (issue 16).

Written from first principles and the issue's text, not from the emulator's market: it shares
no code, shape or parameter with ``ticklake.emulator``. Numpy only, deterministic per seed, an
hour of trades in well under a second.

The model, in continuous time for one symbol:

* **Efficient log-price** X(t): Brownian motion with volatility sigma(t) (log-price per
  sqrt(second)), sampled exactly at the trade times from the integrated variance (sigma is
  piecewise constant on a 1 s grid), so it keeps diffusing through silences.
* **Volatility regimes** (``VOL_REGIMES``): ``const``; ``sv0.25`` / ``sv0.5`` / ``sv1.0``,
  log-vol an Ornstein-Uhlenbeck process with that *stationary std of log-vol* and a 15-minute
  reversion time around log(sigma0) (sigma0: the median), so log-vol moves by std
  s*sqrt(2*60/900) = 0.37 s over a minute (sv1.0: volatility x/÷ 1.44 per minute, one std);
  ``sv1.0slow``, the same
  strength with a 60-minute reversion (0.18 per minute); ``switch``, abrupt volatility changes
  by a factor 2-3 (up or down, kept within sigma0/3 .. 3*sigma0) at Poisson times, one per 15
  minutes on average. The stream's sigma0 is log-uniform in 0.8-2 bp/sqrt(s) and sigma(t) never
  goes below ``sigma_min`` (0.25 bp/sqrt(s), a very quiet crypto market): below it the tick,
  not the volatility, would decide every move (see the ``tickbound`` family in
  bench/detect_eval2.py for what that does to the detector).
* **Arrival processes** (``ARRIVALS``), at a mean rate of 5-20 trades/s: ``poisson``;
  ``hawkes``, self-exciting with an exponential kernel, branching ratio 0.7 (70 % of trades are
  triggered by earlier ones) and a 0.5 s mean delay; ``seasonal``, an inhomogeneous Poisson
  process whose rate follows the time of day h (x exp(0.7 cos(2 pi (h - 14) / 24)), peak at
  14:00 UTC) with a x2.5 spike in the first two minutes of each hour and x1.5 for 30 s at each
  quarter hour, normalised to a daily mean of 1 (about 0.4x-2.3x of the mean rate).
  All are generated in "business time" and mapped to clock time through a rate multiplier, so
  volume bursts and swing bursts act on every process alike.
* **Microstructure**: a price of ``price0`` (3000) on a tick of ``tick`` (0.05, 0.17 bp), a
  quoted spread of ``spread_ticks`` ticks around the efficient mid: buys print at the ask, sells
  at the bid (bid-ask bounce); trade signs are persistent (a trade repeats the previous sign with
  probability ``sign_persistence``, otherwise it is drawn afresh); quantities are Lomax
  (Pareto II) with tail index 1.5 (infinite variance), rounded to 1e-4.
* **Silences** of 10-59 s (no trades at all, the price keeps diffusing) and **volume bursts**
  (the trade rate x3-8 for 5-30 s, larger quantities, often one-sided flow, no price move);
  both kept at least 60 s away from every swing.
* **Labelled swings**, an additive log-price path on top of X(t): ``step`` (instant jump),
  ``ramp`` (linear over D = 2-120 s), ``v`` (linear to the peak at D/2 and linear back to the
  start level by D; the direction is the first leg's), ``grind`` (a smooth monotone drift over
  minutes: raised-cosine velocity, D = 300-600 s). Size k (4-12) means a move of
  k * sigma_local * sqrt(max(D, 1 s)) in log-price over the swing (the V's peak excursion),
  where sigma_local is sigma(t) at the swing's start. Swings are spaced 5-30 minutes apart
  (uniform, configurable) and never overlap (a swing starts >= 60 s after the previous one's
  matching window ends). Half of them (configurable) carry a trade burst (x2-4) and one-sided
  flow (75 % of trades in the swing's direction).

``generate(Config(...), seed) -> Stream``; streams of the same seed share their random
components (a quiet stream and a swing stream of one seed have the same diffusion, arrivals
and silences where no swing intervenes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

T0 = 1_764_892_800_000_000_000  # 2025-12-05 00:00 UTC; the stream's clock starts here + hour
SEC = 1_000_000_000


# ---------------------------------------------------------------------- regimes


@dataclass(frozen=True)
class VolRegime:
    name: str
    kind: str  # const | sv | switch
    sv_std: float = 0.0  # stationary std of log-vol
    sv_reversion_s: float = 900.0
    switch_every_s: float = 900.0  # mean time between switches
    switch_factor: tuple[float, float] = (2.0, 3.0)
    switch_bound: float = 3.0  # sigma stays within sigma0 / bound .. sigma0 * bound


@dataclass(frozen=True)
class Arrival:
    name: str
    kind: str  # poisson | hawkes | seasonal
    branching: float = 0.0  # Hawkes branching ratio (mean children per trade)
    kernel_s: float = 0.5  # Hawkes: mean delay of a child (exponential kernel)
    day_amp: float = 0.0  # seasonal: log-amplitude of the daily cycle
    hour_spike: float = 1.0  # seasonal: multiplier in the first 2 minutes of each hour
    quarter_spike: float = 1.0  # seasonal: multiplier in the first 30 s of each quarter


VOL_REGIMES: dict[str, VolRegime] = {
    "const": VolRegime("const", "const"),
    "sv0.25": VolRegime("sv0.25", "sv", sv_std=0.25),
    "sv0.5": VolRegime("sv0.5", "sv", sv_std=0.5),
    "sv1.0": VolRegime("sv1.0", "sv", sv_std=1.0),
    "sv1.0slow": VolRegime("sv1.0slow", "sv", sv_std=1.0, sv_reversion_s=3600.0),
    "switch": VolRegime("switch", "switch"),
}
ARRIVALS: dict[str, Arrival] = {
    "poisson": Arrival("poisson", "poisson"),
    "hawkes": Arrival("hawkes", "hawkes", branching=0.7, kernel_s=0.5),
    "seasonal": Arrival("seasonal", "seasonal", day_amp=0.7, hour_spike=2.5, quarter_spike=1.5),
}

# (shape, duration s): steps, ramps across 2-120 s, V of 2/10/60 s, grinds of 5 and 10 minutes.
SHAPES: tuple[tuple[str, float], ...] = (
    ("step", 0.0), ("ramp", 2.0), ("ramp", 10.0), ("ramp", 30.0), ("ramp", 60.0),
    ("ramp", 120.0), ("v", 2.0), ("v", 10.0), ("v", 60.0), ("grind", 300.0), ("grind", 600.0))
SIZES: tuple[float, ...] = (4.0, 6.0, 8.0, 12.0)


@dataclass(frozen=True)
class Config:
    """One stream. Times in seconds, volatility in log-price per sqrt(second)."""

    hours: float = 1.0
    rate: float = 10.0  # mean trades/s (before bursts)
    vol: str = "const"  # a VOL_REGIMES key
    arrival: str = "poisson"  # an ARRIVALS key
    sigma0: float | None = None  # median volatility; None: log-uniform in 0.8-2 bp/sqrt(s)
    sigma_min: float = 0.25e-4  # floor of sigma(t)
    rate_vol_power: float = 0.0  # rate x (sigma/sigma0)^p (0: arrivals ignore volatility)
    price0: float = 3000.0
    tick: float = 0.05
    spread_ticks: int = 1
    sign_persistence: float = 0.6
    qty_tail: float = 1.5
    qty_min: float = 0.01
    # Swings (none: a quiet stream).
    swings: bool = True
    sizes: tuple[float, ...] = SIZES
    shapes: tuple[tuple[str, float], ...] = SHAPES
    spacing_s: tuple[float, float] = (300.0, 1800.0)  # uniform start-to-start spacing
    first_swing_s: float = 300.0
    swing_burst_share: float = 0.5  # share of swings with a trade burst + one-sided flow
    swing_burst_mult: tuple[float, float] = (2.0, 4.0)
    swing_one_sided: float = 0.75
    # Silences: mean count per hour, durations uniform in silence_s; ``silence_gap_s`` instead
    # places them back to back with a uniform gap between one's end and the next's start.
    silences_per_h: float = 2.0
    silence_s: tuple[float, float] = (10.0, 59.0)
    silence_gap_s: tuple[float, float] | None = None
    first_event_s: float = 200.0  # no silence or burst before (detector warm-up)
    # Volume bursts without price moves.
    bursts_per_h: float = 4.0
    burst_s: tuple[float, float] = (5.0, 30.0)
    burst_mult: tuple[float, float] = (3.0, 8.0)
    burst_one_sided: float = 0.5  # share of bursts with one-sided flow (80 % one side)
    keep_components: bool = False  # also return the efficient and swing log-price per trade

    @property
    def regime(self) -> str:
        return f"{self.vol}/{self.arrival}"


@dataclass
class Stream:
    ts: np.ndarray  # int64 ns, non-decreasing
    price: np.ndarray  # float64, on the tick grid
    qty: np.ndarray  # float64 > 0
    buy: np.ndarray  # bool
    labels: list[dict[str, Any]]
    silences: list[tuple[int, int]]  # [start_ns, end_ns): no trade inside
    bursts: list[dict[str, Any]]
    vol_switches: list[dict[str, Any]]
    sigma: np.ndarray  # float64, sigma(t) on the 1 s grid from the stream's start
    meta: dict[str, Any]
    components: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def start_ns(self) -> int:
        return int(self.meta["start_ns"])

    def sigma_at(self, ts_ns: int | np.ndarray) -> Any:
        """sigma(t) at ``ts_ns`` (grid value of the second it falls in)."""
        i = (np.asarray(ts_ns) - self.start_ns) // SEC
        return self.sigma[np.clip(i, 0, len(self.sigma) - 1)]


# ---------------------------------------------------------------------- pieces


def _vol_path(cfg: Config, regime: VolRegime, sigma0: float, n: int,
              rng: np.random.Generator) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """sigma on a 1 s grid (n seconds) and the switch events."""
    switches: list[dict[str, Any]] = []
    if regime.kind == "const":
        return np.full(n, sigma0), switches
    if regime.kind == "sv":
        s, phi = regime.sv_std, math.exp(-1.0 / regime.sv_reversion_s)
        eps = rng.standard_normal(n)
        # Exact AR(1) discretisation of the OU process, started in its stationary law.
        innov = s * math.sqrt(1.0 - phi * phi) * eps
        innov[0] = s * eps[0]
        x = _ar1(innov, phi)
        return sigma0 * np.exp(x), switches
    if regime.kind == "switch":
        level = np.zeros(n)
        t = rng.exponential(regime.switch_every_s)
        log_now, bound = 0.0, math.log(regime.switch_bound)
        while t < n:
            f = math.log(rng.uniform(*regime.switch_factor))
            up = rng.random() < 0.5
            if log_now + f > bound + 1e-9:
                up = False
            elif log_now - f < -bound - 1e-9:
                up = True
            log_now += f if up else -f
            i = int(t)
            level[i:] = log_now
            switches.append({"t_s": float(i), "factor": math.exp(f if up else -f),
                             "sigma_after": sigma0 * math.exp(log_now)})
            t += rng.exponential(regime.switch_every_s)
        return sigma0 * np.exp(level), switches
    msg = f"unknown volatility regime kind {regime.kind!r}"
    raise ValueError(msg)


def _ar1(innov: np.ndarray, phi: float, block: int = 256) -> np.ndarray:
    """y[i] = phi * y[i-1] + innov[i], vectorised per block (phi ** block stays > 0)."""
    n = len(innov)
    out = np.empty(n)
    powers = phi ** np.arange(block)
    prev = 0.0
    for lo in range(0, n, block):
        seg = innov[lo: lo + block]
        m = len(seg)
        p = powers[:m]
        # y[lo+j] = phi^(j+1) * prev + sum_{i<=j} phi^(j-i) innov[lo+i]
        acc = np.cumsum(seg / p) * p
        out[lo: lo + m] = acc + prev * p * phi
        prev = out[lo + m - 1]
    return out


def _seasonal(arrival: Arrival, t_grid: np.ndarray, start_hour: float) -> np.ndarray:
    """Rate multiplier of the seasonal process at clock offsets ``t_grid`` (s)."""
    hour = (start_hour + t_grid / 3600.0) % 24.0
    m = np.exp(arrival.day_amp * np.cos(2 * np.pi * (hour - 14.0) / 24.0))
    sec_in_hour = (hour * 3600.0) % 3600.0
    m = np.where(sec_in_hour < 120.0, m * arrival.hour_spike, m)
    m = np.where((sec_in_hour % 900.0) < 30.0, m * arrival.quarter_spike, m)
    return m / _seasonal_mean(arrival)


def _seasonal_mean(arrival: Arrival) -> float:
    """Mean of the raw seasonal multiplier over a day (so the day's mean rate is ``rate``)."""
    day = np.cos(2 * np.pi * np.arange(0.5, 1440) / 1440)  # per minute, phase irrelevant
    daily = float(np.mean(np.exp(arrival.day_amp * day)))
    hourly = (1 + (arrival.hour_spike - 1) * 120 / 3600) * (
        1 + (arrival.quarter_spike - 1) * 30 / 900)
    return daily * hourly


def _business_events(arrival: Arrival, rate: float, horizon: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Event times on [0, horizon) of business time (mean rate ``rate``)."""
    if arrival.kind in ("poisson", "seasonal"):
        n = rng.poisson(rate * horizon)
        return np.sort(rng.uniform(0.0, horizon, n))
    if arrival.kind == "hawkes":
        # Cluster representation: immigrants at rate*(1-n), each trade has Poisson(n)
        # children at exponential delays. Immigrants start a minute early (no cold start).
        n_br, pre = arrival.branching, 60.0
        gen = rng.uniform(-pre, horizon, rng.poisson(rate * (1 - n_br) * (horizon + pre)))
        out = [gen]
        while len(gen):
            kids = rng.poisson(n_br, len(gen))
            parents = np.repeat(gen, kids)
            gen = parents + rng.exponential(arrival.kernel_s, len(parents))
            gen = gen[gen < horizon]
            out.append(gen)
        events = np.concatenate(out)
        return np.sort(events[events >= 0.0])
    msg = f"unknown arrival kind {arrival.kind!r}"
    raise ValueError(msg)


def _place(rng: np.random.Generator, total: float, first: float, n_per_h: float,
           dur: tuple[float, float], gap: tuple[float, float] | None,
           blocked: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-overlapping windows [a, b) avoiding ``blocked`` (shifted past a blocked span)."""
    out: list[tuple[float, float]] = []
    if n_per_h <= 0 and gap is None:
        return out
    t = first
    blocked = sorted(blocked)
    while True:
        t += rng.uniform(*gap) if gap is not None else rng.exponential(3600.0 / n_per_h)
        d = rng.uniform(*dur)
        for a, b in blocked:  # push past any blocked span it would touch
            if t < b and t + d > a:
                t = b + 1.0
        if t + d > total - 30.0:
            return out
        out.append((t, t + d))
        t += d


def _swing_offset(shape: str, dur: float, amp: float, u: np.ndarray) -> np.ndarray:
    """Swing log-price at elapsed times ``u`` (s, 0 <= u): its own path, permanent after D."""
    if shape == "step" or dur <= 0:
        return np.full(len(u), amp)
    x = np.clip(u / dur, 0.0, 1.0)
    if shape == "ramp":
        return amp * x
    if shape == "v":
        return amp * (1.0 - np.abs(2.0 * x - 1.0))
    if shape == "grind":
        return amp * (x - np.sin(2 * np.pi * x) / (2 * np.pi))
    msg = f"unknown swing shape {shape!r}"
    raise ValueError(msg)


def window_end_s(duration_s: float) -> float:
    """The matching window's end after a swing's start (detect_eval.py's rule)."""
    return duration_s + max(10.0, duration_s / 2)


# ---------------------------------------------------------------------- generate


def generate(cfg: Config, seed: int) -> Stream:  # noqa: PLR0915
    vol_regime, arrival = VOL_REGIMES[cfg.vol], ARRIVALS[cfg.arrival]
    ss = np.random.SeedSequence([seed, 16])
    (r_base, r_vol, r_arr, r_price, r_sign, r_qty, r_swing, r_sil,
     r_burst) = (np.random.default_rng(s) for s in ss.spawn(9))
    total = cfg.hours * 3600.0
    n_sec = math.ceil(total) + 1
    sigma0 = cfg.sigma0 if cfg.sigma0 is not None else 1e-4 * math.exp(
        r_base.uniform(math.log(0.8), math.log(2.0)))
    start_hour = float(r_base.integers(0, 24))
    start_ns = T0 + int(start_hour * 3600) * SEC

    sigma, switches = _vol_path(cfg, vol_regime, sigma0, n_sec, r_vol)
    sigma = np.maximum(sigma, cfg.sigma_min)

    # Swings: classes cycled in a seeded shuffle, spacing uniform, never overlapping.
    labels: list[dict[str, Any]] = []
    blocked: list[tuple[float, float]] = []
    if cfg.swings:
        combos = [(k, shape, d, direction) for k in cfg.sizes for shape, d in cfg.shapes
                  for direction in ("up", "down")]
        order = r_swing.permutation(len(combos))
        t = cfg.first_swing_s
        j = 0
        while True:
            k, shape, dur, direction = combos[int(order[j % len(combos)])]
            if t + window_end_s(dur) + 60.0 > total:
                break
            i0 = int(t)
            s_loc = float(sigma[i0])
            amp = k * s_loc * math.sqrt(max(dur, 1.0)) * (1 if direction == "up" else -1)
            loud = r_swing.random() < cfg.swing_burst_share
            labels.append({
                "index": j, "start_s": t, "shape": shape, "duration_s": dur,
                "size_sigma": k, "sigma_local": s_loc, "direction": direction,
                "amplitude_log": amp, "move_bp": abs(amp) * 1e4,
                "burst_mult": float(r_swing.uniform(*cfg.swing_burst_mult)) if loud else 1.0,
                "one_sided": cfg.swing_one_sided if loud else 0.0,
                "vol_regime": cfg.vol, "arrival": cfg.arrival, "regime": cfg.regime,
                "class": f"{shape}{dur:g}/k{k:g}"})
            blocked.append((t - 60.0, t + window_end_s(dur) + 60.0))
            j += 1
            nxt = t + r_swing.uniform(*cfg.spacing_s)
            t = max(nxt, t + window_end_s(dur) + 60.0)
    sil = _place(r_sil, total, cfg.first_event_s, cfg.silences_per_h, cfg.silence_s,
                 cfg.silence_gap_s, blocked)
    bursts_w = _place(r_burst, total, cfg.first_event_s, cfg.bursts_per_h, cfg.burst_s, None,
                      blocked + [(a - 30.0, b + 30.0) for a, b in sil])

    # Rate multiplier on a 0.1 s grid: seasonality, volatility coupling, bursts.
    dt = 0.1
    grid = np.arange(0.0, total + dt, dt)
    mult = np.ones(len(grid))
    if arrival.kind == "seasonal":
        mult *= _seasonal(arrival, grid, start_hour)
    if cfg.rate_vol_power:
        mult *= (sigma[(grid).astype(np.int64)] / sigma0) ** cfg.rate_vol_power
    bursts: list[dict[str, Any]] = []
    for a, b in bursts_w:
        m = float(r_burst.uniform(*cfg.burst_mult))
        side = bool(r_burst.random() < 0.5)
        one = bool(r_burst.random() < cfg.burst_one_sided)
        mult[(grid >= a) & (grid < b)] *= m
        bursts.append({"start_ns": start_ns + round(a * SEC), "end_ns": start_ns + round(b * SEC),
                       "mult": m, "one_sided": one, "buy_side": side})
    for lab in labels:
        if lab["burst_mult"] > 1.0:
            a = lab["start_s"]
            b = a + min(max(5.0, lab["duration_s"] + 2.0), 60.0)
            mult[(grid >= a) & (grid < b)] *= lab["burst_mult"]
    cum = np.concatenate(([0.0], np.cumsum(mult[:-1] * dt)))  # business time at grid points

    # Arrivals in business time -> clock time; silences cut out.
    tau = _business_events(arrival, cfg.rate, float(cum[-1]), r_arr)
    t_tr = np.interp(tau, cum, grid)
    t_tr = t_tr[t_tr < total]
    keep = np.ones(len(t_tr), bool)
    for a, b in sil:
        keep &= ~((t_tr >= a) & (t_tr < b))
    t_tr = t_tr[keep]
    ts = start_ns + np.round(t_tr * SEC).astype(np.int64)
    t_tr = (ts - start_ns) / SEC  # what the stream says, exactly
    n = len(ts)

    # Efficient log-price from the integrated variance (sigma piecewise constant per second).
    iv_grid = np.concatenate(([0.0], np.cumsum(sigma * sigma)))
    sec = np.minimum(t_tr.astype(np.int64), n_sec - 1)
    iv = iv_grid[sec] + sigma[sec] ** 2 * (t_tr - sec)
    div = np.diff(iv, prepend=0.0)
    x = np.cumsum(np.sqrt(np.maximum(div, 0.0)) * r_price.standard_normal(n))

    swing = np.zeros(n)
    buy_p = np.full(n, 0.5)
    for lab in labels:
        a = lab["start_s"]
        lo = int(np.searchsorted(t_tr, a))
        hi = int(np.searchsorted(t_tr, a + max(lab["duration_s"], 0.0), side="right"))
        swing[lo:hi] += _swing_offset(lab["shape"], lab["duration_s"], lab["amplitude_log"],
                                      t_tr[lo:hi] - a)
        if lab["shape"] != "v":  # a V ends where it started; the others stay moved
            swing[hi:] += lab["amplitude_log"]
        if lab["one_sided"]:
            b = a + max(5.0, lab["duration_s"])
            sel = (t_tr >= a) & (t_tr < b)
            up = lab["direction"] == "up"
            buy_p[sel] = lab["one_sided"] if up else 1.0 - lab["one_sided"]
        lab["start_ns"] = start_ns + round(a * SEC)
        lab["end_ns"] = start_ns + round((a + lab["duration_s"]) * SEC)
        if lab["shape"] == "v":
            lab["peak_ns"] = start_ns + round((a + lab["duration_s"] / 2) * SEC)
        lab["trades_in_window"] = int(np.searchsorted(t_tr, a + window_end_s(lab["duration_s"]))
                                      - lo)
    for bst in bursts:
        if bst["one_sided"]:
            sel = (ts >= bst["start_ns"]) & (ts < bst["end_ns"])
            buy_p[sel] = 0.8 if bst["buy_side"] else 0.2

    # Signs: persistent (copy the previous sign) or fresh with the local buy probability.
    fresh = r_sign.random(n) >= cfg.sign_persistence
    if n:
        fresh[0] = True
    draw = r_sign.random(n) < buy_p
    last_fresh = np.maximum.accumulate(np.where(fresh, np.arange(n), 0))
    buy = draw[last_fresh]
    # One-sided windows must really be one-sided: persistence only within their own draws.
    forced = buy_p != 0.5
    buy = np.where(forced, draw, buy)

    # Quotes around the efficient mid, trades at the touch.
    logp = x + swing
    mid = cfg.price0 * np.exp(logp)
    bid_ticks = np.floor(mid / cfg.tick - (cfg.spread_ticks - 1) / 2)
    ticks = np.where(buy, bid_ticks + cfg.spread_ticks, bid_ticks)
    price = np.round(ticks * cfg.tick, 10)

    q = cfg.qty_min * (1.0 + r_qty.pareto(cfg.qty_tail, n))
    in_burst = np.zeros(n, bool)
    for bst in bursts:
        in_burst |= (ts >= bst["start_ns"]) & (ts < bst["end_ns"])
    q = np.where(in_burst, 2.0 * q, q)
    qty = np.maximum(np.round(q, 4), 1e-4)

    for lab in labels:
        del lab["start_s"]
    meta = {"seed": seed, "config": asdict(cfg), "regime": cfg.regime, "vol_regime": cfg.vol,
            "arrival": cfg.arrival, "sigma0": sigma0, "start_hour_utc": start_hour,
            "start_ns": start_ns, "end_ns": start_ns + round(total * SEC), "hours": cfg.hours,
            "trades": n, "rate_observed": n / total,
            "vol_regime_params": asdict(vol_regime), "arrival_params": asdict(arrival)}
    out = Stream(ts=ts, price=price, qty=qty, buy=buy, labels=labels,
                 silences=[(start_ns + round(a * SEC), start_ns + round(b * SEC))
                           for a, b in sil],
                 bursts=bursts, vol_switches=[{**s, "ts_ns": start_ns + round(s["t_s"] * SEC)}
                                              for s in switches],
                 sigma=sigma, meta=meta)
    if cfg.keep_components:
        out.components = {"efficient": x, "swing": swing, "mid": mid}
    return out


def save(stream: Stream, path: str) -> None:
    """npz of the trades and sigma; the labels, silences, bursts and meta as JSON inside."""
    import json

    extra = json.dumps({"labels": stream.labels, "silences": stream.silences,
                        "bursts": stream.bursts, "vol_switches": stream.vol_switches,
                        "meta": stream.meta})
    np.savez(path, ts=stream.ts, price=stream.price, qty=stream.qty, buy=stream.buy,
             sigma=stream.sigma.astype(np.float32), extra=np.array(extra))


if __name__ == "__main__":
    import sys
    import time

    for vol in VOL_REGIMES:
        for arr in ARRIVALS:
            t = time.perf_counter()
            s = generate(Config(hours=1.0, rate=20.0, vol=vol, arrival=arr), seed=1)
            print(f"{vol:7s} {arr:9s} {len(s.ts):7d} trades {len(s.labels):2d} swings "
                  f"{len(s.silences)} silences {len(s.bursts)} bursts "
                  f"{time.perf_counter() - t:.3f} s", file=sys.stdout)
