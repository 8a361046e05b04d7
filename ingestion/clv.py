"""Predictive customer lifetime value: BG/NBD (purchases and dropout) and Gamma-Gamma (spend), by maximum likelihood.

Models
------
- **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive, a customer buys as a
  Poisson process of rate lambda, lambda ~ Gamma(shape ``r``, rate ``alpha``) across customers; after each *repeat*
  purchase the customer drops out for good with probability p, p ~ Beta(``a``, ``b``).
- **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer base analysis"): the
  spend of each transaction ~ Gamma(shape ``p``, rate nu), nu ~ Gamma(shape ``q``, rate ``gamma``) across
  customers, independent of the purchase process. Fitted on repeat customers only (their mean repeat spend).

Conventions (how :func:`summarize` turns transactions into the models' inputs)
-------------------------------------------------------------------------------
- Only transactions **on or before** ``calibration_end`` (a date, inclusive) count.
- All purchases of one customer on one **calendar day** are **one transaction** (their amounts summed). Timestamps
  with a time zone are taken in UTC; naive ones and plain dates as given.
- ``frequency`` = the number of **repeat** transactions (transactions after the first one).
- ``recency`` = time from the **first** purchase to the **last** one (0 for one-time buyers); ``T`` (age) = time
  from the first purchase to ``calibration_end``. Both are whole days, divided by 7 when ``time_unit="weeks"``
  (a purchase on ``calibration_end`` itself has recency = T).
- ``monetary_value`` = the mean of the **repeat** transactions (the first one excluded), 0 when frequency is 0.
- The time unit (``"days"`` or ``"weeks"``) and the calibration end are parameters of the fit and stored with it
  (:class:`ClvFit`); every rate and every ``t`` is in that unit. A month is 30.4375 days (30.4375 / 7 weeks).

Computation
-----------
The BG/NBD individual likelihood is

    L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))

evaluated in log space (``gammaln``/``betaln``; the two terms joined with ``np.logaddexp``), so customers with many
purchases neither overflow nor underflow. Both models are fitted with ``scipy.optimize.minimize`` (SLSQP, bounded) on the
logarithms of the parameters with analytic gradients, from a few starting points (the best optimum is kept).
Customers with the same (frequency, recency, T) are one weighted row in the BG/NBD likelihood.

Conditional expectations: :func:`p_alive`; :func:`expected_purchases` (FHL 2005 eq. 10) with its Gauss
hypergeometric function taken through Euler's transformation, 2F1(r+x, b+x; a+b+x-1; z) (alpha+T)^(r+x) /
(alpha+T+t)^(r+x) = 2F1(a+b-1-r, a-1; a+b+x-1; z) ((alpha+T)/(alpha+T+t))^(a-1), whose first two parameters no
longer grow with x (the original form overflows for frequent buyers); :func:`expected_average_value` (FHL 2005b
eq. 5); :func:`clv`: the expected purchases of each month times the expected average value, discounted monthly.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

TIME_UNITS = {"days": 1, "weeks": 7}  # days per unit
DAYS_PER_MONTH = 30.4375  # 365.25 / 12
_LOG_BOUND = 15.0  # |log(parameter)| the optimiser may explore (3e-7 .. 3.3e6)


@dataclass
class ClvFit:
    """One fit of both models: parameters (rates in ``time_unit``), log-likelihoods and what it was fitted on."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma: float
    log_likelihood: float  # BG/NBD, summed over all customers
    gg_log_likelihood: float  # Gamma-Gamma, summed over the repeat customers with monetary value > 0
    customers: int
    repeat_customers: int  # customers in the Gamma-Gamma fit
    converged: bool  # both optimisations succeeded at a proper maximum (see _identified), no parameter at a bound
    time_unit: str
    calibration_end: dt.date
    fitted_at: dt.datetime  # UTC
    seconds: float

    def to_dict(self) -> dict:
        """The fit as JSON-ready values (dates in ISO format)."""
        values = asdict(self)
        values["calibration_end"] = self.calibration_end.isoformat()
        values["fitted_at"] = self.fitted_at.isoformat()
        return values


# ---------------------------------------------------------------------------------------------------------------
# Summaries


def _unit_days(time_unit: str) -> int:
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, not {time_unit!r}")
    return TIME_UNITS[time_unit]


def _as_date(value) -> dt.date:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"calibration_end is not a date: {value!r}") from error
    if pd.isna(stamp):
        raise ValueError(f"calibration_end is not a date: {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    return stamp.date()


def _calendar_days(values: pd.Series) -> pd.Series:
    """Each value's calendar day as datetime64 at midnight (UTC day for time-zone-aware timestamps)."""
    stamps = pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.dt.floor("D")


def summarize(
    transactions: pd.DataFrame,
    calibration_end,
    time_unit: str = "days",
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer (the module's conventions), as of ``calibration_end``.

    Returns a frame indexed by customer (only customers with a transaction on or before ``calibration_end``) with
    columns ``frequency`` (int), ``recency``, ``T`` and ``monetary_value`` (floats; times in ``time_unit``).
    """
    unit = _unit_days(time_unit)
    end = _as_date(calibration_end)
    missing = [column for column in (customer_col, date_col, amount_col) if column not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack column(s) {missing}")
    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": _calendar_days(transactions[date_col]).to_numpy(),
            "amount": pd.to_numeric(transactions[amount_col]).to_numpy(dtype=float),
        }
    )
    for column, name in (("customer", customer_col), ("day", date_col), ("amount", amount_col)):
        if frame[column].isna().any():  # a transaction nobody would count: say so rather than drop it
            raise ValueError(f"{int(frame[column].isna().sum())} transaction(s) without a {name}")
    frame = frame[frame["day"] <= pd.Timestamp(end)]
    daily = frame.groupby(["customer", "day"], sort=True)["amount"].sum()  # one transaction per customer and day
    days = daily.index.get_level_values("day")
    by_customer = daily.groupby(level="customer", sort=True)
    count = by_customer.size()
    first_day = pd.Series(days, index=daily.index).groupby(level="customer").min()
    last_day = pd.Series(days, index=daily.index).groupby(level="customer").max()
    first_amount = by_customer.first()
    total = by_customer.sum()
    frequency = (count - 1).astype("int64")
    repeat_total = total - first_amount
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last_day - first_day).dt.days.astype(float) / unit,
            "T": (pd.Timestamp(end) - first_day).dt.days.astype(float) / unit,
            "monetary_value": np.where(frequency > 0, repeat_total / frequency.clip(lower=1), 0.0),
        }
    )
    summary.index.name = customer_col
    return summary


CSV_COLUMNS = ("customer_id", "date", "amount")


def read_transactions_csv(path) -> pd.DataFrame:
    """A transactions file with the header ``customer_id,date,amount`` (more columns are ignored; header names are
    case-insensitive), checked row by row: ValueError naming the file line of the first bad row (a missing customer,
    a date that is not ``YYYY-MM-DD``, an amount that is not a finite, non-negative number). Values are not echoed
    except a bad date or amount (a customer id may be an e-mail address)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    missing = [column for column in CSV_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} in the header (need {','.join(CSV_COLUMNS)})")
    if frame.empty:
        raise ValueError(f"{path}: no transactions (only a header)")
    line = pd.RangeIndex(2, len(frame) + 2)  # file line of each row: the header is line 1
    customer = frame["customer_id"].str.strip()
    if (customer == "").any():
        raise ValueError(f"{path}: line {line[(customer == '').to_numpy().argmax()]}: no customer_id")
    text = frame["date"].str.strip()
    date = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if date.isna().any():
        row = int(date.isna().to_numpy().argmax())
        raise ValueError(f"{path}: line {line[row]}: date {text.iloc[row]!r} is not a date YYYY-MM-DD")
    amount = pd.to_numeric(frame["amount"].str.strip(), errors="coerce")
    bad = ~np.isfinite(amount.to_numpy(dtype=float)) | (amount.to_numpy(dtype=float) < 0)
    if bad.any():
        row = int(bad.argmax())
        raise ValueError(f"{path}: line {line[row]}: amount {frame['amount'].iloc[row]!r} is not a non-negative number")
    return pd.DataFrame({"customer_id": customer, "date": date, "amount": amount.astype(float)})


# ---------------------------------------------------------------------------------------------------------------
# Likelihoods (per customer; with gradients with respect to the log-parameters)


def bgnbd_log_likelihood(r, alpha, a, b, frequency, recency, T) -> np.ndarray:
    """The BG/NBD log-likelihood of each customer (FHL 2005 eq. 6, in log space)."""
    data = _BgnbdData(*(np.asarray(v, dtype=float).ravel() for v in (frequency, recency, T)))
    return data.terms(np.log([r, alpha, a, b]), gradient=False)[0]


class _BgnbdData:
    """Customers' (x, t_x, T), kept as indices into their distinct values: the special functions of the likelihood
    depend on x alone and the logarithms on t_x or T alone, so each is computed once per distinct value."""

    def __init__(self, x, tx, T):
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.utx, self.itx = np.unique(tx, return_inverse=True)
        self.uT, self.iT = np.unique(T, return_inverse=True)
        self.x = x
        self.repeat = self.ux > 0

    def terms(self, log_params, gradient=True):
        """(log-likelihood per customer, its gradient with respect to the log-parameters (4 x customers) or None)."""
        r, alpha, a, b = np.exp(log_params)
        ux, repeat, ix, x = self.ux, self.repeat, self.ix, self.x
        # per distinct x
        betaln_ab = special.betaln(a, b)
        b_x_1 = np.where(repeat, b + ux - 1.0, 1.0)  # B(a+1, b+x-1) only exists for x > 0
        head = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha)
        beta_alive = special.betaln(a, b + ux) - betaln_ab
        beta_dropped = np.where(repeat, special.betaln(a + 1.0, b_x_1) - betaln_ab, -np.inf)
        # per distinct t_x or T
        log_alpha_T = np.log(alpha + self.uT)[self.iT]
        log_alpha_tx = np.log(alpha + self.utx)[self.itx]
        alive = beta_alive[ix] - (r + x) * log_alpha_T  # still alive at T
        dropped = beta_dropped[ix] - (r + x) * log_alpha_tx  # dropped out right after the last purchase
        both = np.logaddexp(alive, dropped)
        log_lik = head[ix] + both
        if not gradient:
            return log_lik, None
        w_alive = np.exp(alive - both)
        w_dropped = np.exp(dropped - both)  # 0 for x = 0
        psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + ux)
        d_r = (special.digamma(r + ux) - special.digamma(r) + np.log(alpha))[ix]
        d_r = d_r - w_alive * log_alpha_T - w_dropped * log_alpha_tx
        inverse_T, inverse_tx = (1.0 / (alpha + self.uT))[self.iT], (1.0 / (alpha + self.utx))[self.itx]
        d_alpha = r / alpha - (r + x) * (w_alive * inverse_T + w_dropped * inverse_tx)
        d_a = (psi_ab - psi_abx)[ix] + w_dropped / a  # digamma(a+1) - digamma(a) = 1/a
        d_b = (psi_ab - psi_abx - special.digamma(b) + special.digamma(b + ux))[ix] - w_dropped / b_x_1[ix]
        return log_lik, np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


def gamma_gamma_log_likelihood(p, q, gamma, frequency, monetary_value) -> np.ndarray:
    """The Gamma-Gamma log-likelihood of each repeat customer's mean repeat spend (FHL 2005b)."""
    data = _GammaGammaData(*(np.asarray(v, dtype=float).ravel() for v in (frequency, monetary_value)))
    return data.terms(np.log([p, q, gamma]), gradient=False)[0]


class _GammaGammaData:
    """Repeat customers' (x, mean repeat spend); the special functions are computed once per distinct x."""

    def __init__(self, x, z):
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.x, self.z = x, z
        self.log_x, self.log_z = np.log(x), np.log(z)

    def terms(self, log_params, gradient=True):
        p, q, gamma = np.exp(log_params)
        x, z, ix, ux = self.x, self.z, self.ix, self.ux
        px = p * x
        log_scale = np.log(gamma + x * z)
        per_x = special.gammaln(p * ux + q) - special.gammaln(p * ux) - special.gammaln(q) + q * np.log(gamma)
        log_lik = per_x[ix] + (px - 1.0) * self.log_z + px * self.log_x - (px + q) * log_scale
        if not gradient:
            return log_lik, None
        psi_pxq = special.digamma(p * ux + q)
        d_p = x * ((psi_pxq - special.digamma(p * ux))[ix] + self.log_z + self.log_x - log_scale)
        d_q = (psi_pxq - special.digamma(q) + np.log(gamma))[ix] - log_scale
        d_gamma = q / gamma - (px + q) / (gamma + x * z)
        return log_lik, np.stack([d_p * p, d_q * q, d_gamma * gamma])


def _maximize(terms, starts, weights) -> tuple[np.ndarray, float, bool]:
    """Maximise sum(weights * log-likelihood) over log-parameters from several starts: (log params, LL, converged)."""
    total = weights.sum()

    def objective(log_params):
        log_lik, grad = terms(log_params)
        # element-wise products and sums, no BLAS: OpenBLAS threads spinning after a matrix-vector product cost more
        # CPU than the whole likelihood
        value = -(weights * log_lik).sum() / total
        if not np.isfinite(value):
            return np.inf, np.zeros_like(log_params)
        return value, -(grad * weights).sum(axis=1) / total

    best = None
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(starts[0])
    for start in starts:
        # SLSQP: bounded, analytic gradient, and as few evaluations as L-BFGS-B, whose per-iteration BLAS calls
        # (threaded OpenBLAS spinning on a 2-core machine) cost 2 ms of CPU each, more than the likelihood
        result = optimize.minimize(
            objective, np.log(start), jac=True, method="SLSQP", bounds=bounds, options={"maxiter": 2000, "ftol": 1e-14},
        )  # fmt: skip
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    if best is None:
        raise ValueError("the likelihood is not finite at any starting point")
    inside = bool(np.all(np.abs(best.x) < _LOG_BOUND - 1e-6))
    # a line search that cannot improve at machine precision is a stop, not a failure, if the gradient is ~0
    gradient_small = float(np.max(np.abs(best.jac))) < 1e-5
    converged = (best.success or gradient_small) and inside and _identified(objective, best.x, total)
    return best.x, float(-best.fun * total), bool(converged)


def _identified(objective, log_params, total, step=1e-4, max_standard_error=5.0) -> bool:
    """Whether the optimum is a proper maximum: the Hessian of the negative log-likelihood in the log-parameters
    (central differences of the analytic gradient) is positive definite and no log-parameter has a standard error
    above ``max_standard_error`` (a likelihood that keeps rising as a parameter runs off to 0 or infinity, as on
    a handful of customers, stops the optimiser on a flat ridge that is no estimate)."""
    n = len(log_params)
    hessian = np.empty((n, n))
    for i in range(n):
        shift = np.zeros(n)
        shift[i] = step
        hessian[i] = (objective(log_params + shift)[1] - objective(log_params - shift)[1]) / (2 * step) * total
    hessian = (hessian + hessian.T) / 2
    if not np.all(np.isfinite(hessian)):
        return False
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.linalg.eigvalsh(hessian) > 0) and np.all(np.sqrt(np.diag(covariance)) < max_standard_error))


def _validate(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("frequency", "recency", "T", "monetary_value") if c not in summary.columns]
    if missing:
        raise ValueError(f"the summary lacks column(s) {missing} (see summarize())")
    if len(summary) == 0:
        raise ValueError("no customers to fit (the summary is empty)")
    x, tx, T, m = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value"))
    for name, values in (("frequency", x), ("recency", tx), ("T", T), ("monetary_value", m)):
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            raise ValueError(f"{bad.sum()} customer(s) with a negative or missing {name}")
    if (x != np.round(x)).any():
        raise ValueError("frequency must be whole numbers of repeat transactions")
    if (tx > T + 1e-9).any():
        raise ValueError(f"{(tx > T + 1e-9).sum()} customer(s) with recency greater than T")
    return x, tx, T, m


def fit(summary: pd.DataFrame, time_unit: str, calibration_end) -> ClvFit:
    """Fit BG/NBD on every customer and Gamma-Gamma on repeat customers with monetary value > 0.

    ``summary`` is :func:`summarize`'s output (columns frequency, recency, T, monetary_value, times in
    ``time_unit``). Raises ValueError on empty or invalid input and when there is no repeat customer to fit.
    """
    started = time.perf_counter()
    _unit_days(time_unit)
    end = _as_date(calibration_end)
    x, tx, T, m = _validate(summary)
    repeat = (x > 0) & (m > 0)
    if not repeat.any():
        raise ValueError(f"no repeat customer with a positive monetary value among {len(x)} customers: nothing to fit")

    # BG/NBD on distinct (x, t_x, T) rows, weighted by how many customers share them
    rows = pd.DataFrame({"x": x, "tx": tx, "T": T}).value_counts(sort=False)
    bgnbd = _BgnbdData(*(rows.index.get_level_values(level).to_numpy(dtype=float) for level in ("x", "tx", "T")))
    counts = rows.to_numpy()
    rate = max(x.sum() / max(T.sum(), 1e-9), 1e-6)  # repeat purchases per unit of time
    starts = [(r, r / rate, a, b) for r, a, b in ((1.0, 1.0, 1.0), (0.5, 0.5, 2.5), (2.0, 2.0, 5.0))]
    log_bg, ll_bg, ok_bg = _maximize(bgnbd.terms, starts, counts.astype(float))

    # Gamma-Gamma on the repeat customers' mean repeat spend
    gamma_gamma = _GammaGammaData(x[repeat], m[repeat])
    mean = float(m[repeat].mean())
    gg_starts = [(p, q, mean * (q - 1) / p) for p, q in ((1.0, 2.0), (4.0, 4.0), (10.0, 10.0))]
    log_gg, ll_gg, ok_gg = _maximize(gamma_gamma.terms, gg_starts, np.ones(int(repeat.sum())))

    r, alpha, a, b = np.exp(log_bg)
    p, q, gamma = np.exp(log_gg)
    return ClvFit(
        r=float(r), alpha=float(alpha), a=float(a), b=float(b), p=float(p), q=float(q), gamma=float(gamma),
        log_likelihood=ll_bg, gg_log_likelihood=ll_gg, customers=int(len(x)), repeat_customers=int(repeat.sum()),
        converged=ok_bg and ok_gg, time_unit=time_unit, calibration_end=end,
        fitted_at=dt.datetime.now(dt.timezone.utc), seconds=time.perf_counter() - started,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Conditional expectations (vectorised; a pandas Series in gives a Series with its index out)


def _arrays(*values):
    index = next((v.index for v in values if isinstance(v, pd.Series)), None)
    return index, [np.asarray(v, dtype=float) for v in values]


def _out(result, index):
    return pd.Series(result, index=index) if index is not None else result


def _log_odds_dropped(fit: ClvFit, x, tx, T):
    """log of P(dropped out at t_x, data) / P(alive at T, data); -inf for customers without repeat purchases."""
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = (
            np.log(fit.a) - np.log(np.where(x > 0, fit.b + x - 1.0, 1.0))
            + (fit.r + x) * (np.log(fit.alpha + T) - np.log(fit.alpha + tx))
        )  # fmt: skip
    return np.where(x > 0, odds, -np.inf)


def p_alive(fit: ClvFit, frequency, recency, T):
    """P(the customer is still alive at T | frequency, recency, T) (Fader, Hardie & Lee 2008, "Computing P(alive)
    using the BG/NBD model")."""
    index, (x, tx, T) = _arrays(frequency, recency, T)
    return _out(special.expit(-_log_odds_dropped(fit, x, tx, T)), index)


def expected_purchases(fit: ClvFit, t, frequency, recency, T):
    """Expected repeat purchases in (T, T + t] given frequency, recency and T (FHL 2005 eq. 10), ``t`` in time units."""
    index, (t, x, tx, T) = _arrays(t, frequency, recency, T)
    r, alpha, b = fit.r, fit.alpha, fit.b
    a = fit.a if abs(fit.a - 1.0) > 1e-7 else 1.0 + 1e-7  # a = 1: a removable 0/0, continuous in a
    c = a + b + x - 1.0
    log_ratio = np.log(alpha + T) - np.log(alpha + T + t)  # log(1 - z)
    z = -np.expm1(log_ratio)  # t / (alpha + T + t)
    hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)  # Euler's transformation of 2F1(r+x, b+x; c; z)
    with np.errstate(divide="ignore", invalid="ignore"):
        unconditional = c / (a - 1.0) * -np.expm1((a - 1.0) * log_ratio + np.log(hyp))
    alive = special.expit(-_log_odds_dropped(fit, x, tx, T))
    return _out(np.where(t > 0, unconditional * alive, 0.0), index)


def expected_average_value(fit: ClvFit, frequency, monetary_value):
    """E[spend per transaction | frequency, mean repeat spend] (FHL 2005b eq. 5); the population mean for x = 0.

    NaN when q <= 1 and the customer has no repeat purchase (the population mean spend is then infinite).
    """
    index, (x, z) = _arrays(frequency, monetary_value)
    z = np.where(x > 0, z, 0.0)
    denominator = fit.p * x + fit.q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(denominator > 0, fit.p * (fit.gamma + x * z) / denominator, np.nan)
    return _out(value, index)


def clv(fit: ClvFit, frequency, recency, T, monetary_value, months: int = 12, monthly_discount_rate: float = 0.01):
    """Discounted expected revenue over the next ``months``: sum over months i of E[purchases in month i] x E[value]
    / (1 + rate)^i (purchases of month i = expected_purchases(i months) - expected_purchases(i - 1 months))."""
    index, (x, tx, T, m) = _arrays(frequency, recency, T, monetary_value)
    month = DAYS_PER_MONTH / _unit_days(fit.time_unit)
    value = expected_average_value(fit, x, m)
    total = np.zeros(np.broadcast(x, tx, T).shape)
    previous = np.zeros_like(total)
    for i in range(1, months + 1):
        cumulative = expected_purchases(fit, i * month, x, tx, T)
        total = total + (cumulative - previous) / (1.0 + monthly_discount_rate) ** i
        previous = cumulative
    return _out(total * value, index)


# ---------------------------------------------------------------------------------------------------------------
# Simulation


def simulate(
    n: int,
    params: dict,
    T: float,
    seed: int,
    *,
    time_unit: str = "days",
    start: dt.date = dt.date(2020, 1, 1),
    acquisition_share: float = 0.5,
) -> pd.DataFrame:
    """Transactions (customer_id, date, amount) of ``n`` customers drawn from BG/NBD + Gamma-Gamma with ``params``
    (keys r, alpha, a, b, p, q, gamma; rates in ``time_unit``).

    Customer i's first purchase is at a uniform moment in the first ``acquisition_share`` of the window [0, T)
    after ``start`` (so ages vary); then, while alive, purchases at Poisson rate lambda ~ Gamma(r, rate alpha), each
    repeat purchase followed by dropout with probability p ~ Beta(a, b); each purchase spends Gamma(shape p, rate
    nu) with nu ~ Gamma(shape q, rate gamma), rounded to cents. Times are continuous; ``date`` is the calendar day.
    The calibration end that observes exactly the window is ``start + T`` units minus one day.
    """
    unit = _unit_days(time_unit)
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    dropout = rng.beta(params["a"], params["b"], n)
    nu = rng.gamma(params["q"], 1.0 / params["gamma"], n)
    first = rng.uniform(0.0, T * acquisition_share, n)
    lifetime_purchases = rng.geometric(dropout)  # the repeat purchase after which the customer drops out
    customers, times = [np.arange(n)], [first]
    active = np.arange(n)
    now = first.copy()
    k = 0
    while active.size:
        k += 1
        now[active] += rng.exponential(1.0, active.size) / lam[active]
        active = active[(now[active] < T) & (lifetime_purchases[active] >= k)]
        customers.append(active)
        times.append(now[active])
    customer = np.concatenate(customers)
    at = np.concatenate(times)
    amount = np.round(rng.gamma(params["p"], 1.0, customer.size) / nu[customer], 2)
    order = np.lexsort((at, customer))
    days = np.floor(at[order] * unit).astype("int64")
    return pd.DataFrame(
        {
            "customer_id": customer[order],
            "date": pd.Timestamp(start) + pd.to_timedelta(days, unit="D"),
            "amount": amount[order],
        }
    )
