"""Y axes over float64's whole range: ticks, grid lines and labels for an f near float32's largest
value, a metric near float64's, a span float64 cannot hold, values near 0 and below 1e-308, on
linear and log axes; ordinary ranges keep uPlot's own ticks."""

from __future__ import annotations

import itertools

import httpx
import pytest
from test_detail_charts import open_session
from waits import points, until
from workloads import traced_session

MAX = 1.7976931348623157e308  # float64's largest

# A y axis as the dashboard's charts make one (charts.js), over `values`: [its range, its ticks
# (in the values' units), their labels, where each value is drawn (px from the top)]; `bare`:
# uPlot's own axis and range.
AXIS = """async ([values, log, bare]) => {
  const { logScale, tickScales, xAxis, yAxis } = await import("/assets/charts.js");
  const node = document.body.appendChild(document.createElement("div"));
  const axis = yAxis();
  if (bare) { delete axis.incrs; delete axis.splits; }
  const opts = { width: 600, height: 240, axes: [xAxis("step"), axis], series: [{}, {}],
    scales: { x: { time: false }, y: bare ? (log ? { distr: 3 } : { auto: true }) : logScale(log) } };
  const u = new uPlot(bare ? opts : tickScales(opts), [values.map((v, i) => i), values], node);
  await new Promise((drawn) => setTimeout(drawn));
  const unit = u.scales.y.fwd ? u.scales.y.fwd(1) : 1; // the scale draws values times this
  const ticks = u.axes[1]._splits && u.axes[1]._splits.map((t) => t / unit);
  const found = [[u.scales.y.min, u.scales.y.max], ticks, u.axes[1]._values,
    [values.map((v) => u.valToPos(v, "y")), u.bbox.height / uPlot.pxRatio]];
  u.destroy();
  node.remove();
  return found;
}"""


@pytest.mark.parametrize(("values", "log", "labels"), [
    ([1e37, 2e37, 3e37], False, ["1e37", "1.5e37", "2e37", "2.5e37", "3e37"]),  # past uPlot's 5e31
    ([3.4e38, -3.4e38], False, ["-4e38", "-2e38", "0", "2e38", "4e38"]),  # float32's largest f
    ([1e308], False, ["0", "2.5e307", "5e307", "7.5e307", "1e308", "1.25e308", "1.5e308", "1.75e308"]),
    ([1e308, 5e307], False, ["5e307", "6e307", "7e307", "8e307", "9e307", "1e308"]),
    ([1e-20, 3e-20], False, ["1e-20", "1.5e-20", "2e-20", "2.5e-20", "3e-20"]),  # below uPlot's 1e-16
    ([1e-30, 3e-30], False, ["1e-30", "1.5e-30", "2e-30", "2.5e-30", "3e-30"]),  # was 0 to 100
    ([1e30, 1e38], True, ["1e30", "1e32", "1e34", "1e36", "1e38"]),
    ([1.5e308, 1e300], True, ["1e300", "1e302", "1e304", "1e306", "1e308"]),  # every other decade: room for it
    ([1e-40, 1e-30], True, ["1e-40", "1e-38", "1e-36", "1e-34", "1e-32", "1e-30"]),
    # spans float64 cannot hold (its largest is 1.8e308): uPlot divided by an infinite span
    ([-8e307, 8e307], False, ["-5e307", "0", "5e307"]),
    ([-1e308, 1e308], False, ["-1e308", "-5e307", "0", "5e307", "1e308"]),
    ([0, 1.7e308, -1e307], False, ["0", "5e307", "1e308", "1.5e308"]),
    ([-MAX, MAX, 1e-300, -3.0], False, ["-1e308", "0", "1e308"]),
    # below 1e-308 (subnormal): 10 ** -324 is Infinity, 1e-324 is 0, and 1e-323 is held as 9.881e-324
    ([5e-324, 1e308], True, ["1e-200", "1e0", "1e200"]),
    ([1e-310, 1], True, ["1e-300", "1e-200", "1e-100", "1e0"]),
    ([1e-320, 1e-310], True, ["1e-320", "1e-318", "1e-316", "1e-314", "1e-312", "1e-310"]),
    ([5e-324, 1e-323], True, ["5e-324", "1e-323"]),
    ([5e-324], True, ["5e-324", "1e-323", "2e-323", "5e-323"]),
    ([MAX], True, ["1e307", "1e308"]),  # 2e308 to 9e308 are Infinity: no ticks
    # a round number of decades a label apart: stepping over nine ticks a decade, uPlot's filter
    # labelled every one of these, sixteen labels on one another
    ([1, 1e-15], True, ["1e-15", "1e-12", "1e-9", "1e-6", "1e-3", "1e0"]),
    # within a decade (an lr halved, a mu that stays): the 1, 2 and 5 times are labelled too,
    # where no label (or one) read
    ([1e-3, 5e-4], True, ["5e-4", "1e-3"]),
    ([2e-4, 8e-4], True, ["2e-4", "5e-4", "1e-3"]),
])
def test_an_axis_has_ticks_over_float64s_range(service, page, values, log, labels):
    page.goto(service.url + "/dashboard")
    (low, high), ticks, texts, (drawn, height) = page.evaluate(AXIS, [values, log, False])
    assert [t for t in texts if t] == labels
    assert -MAX <= low <= min(values) and max(values) <= high <= MAX and (low > 0 or not log)
    slack = 1e-12 * max(abs(low), abs(high))  # a power of ten as written, or as 10 ** k computes it
    assert len(ticks) == len(texts) and all(low - slack <= t <= high + slack for t in ticks)
    assert len(set(ticks)) == len(ticks) and all(abs(t) <= MAX for t in ticks)
    assert all(float(text) == tick for tick, text in zip(ticks, texts, strict=True) if text)  # each reads as its tick
    # every value drawn in the plot, in order (higher is further up), the least apart from the largest
    at = sorted(zip(values, drawn, strict=True))
    assert all(0 <= y <= height for y in drawn) and all(a[1] >= b[1] for a, b in itertools.pairwise(at)), drawn
    assert len(values) == 1 or at[0][1] > at[-1][1]
    assert page.errors == [] and page.violations() == []


def test_a_log_axis_reaches_down_to_a_converged_f(service, page):
    """f from 1 to 1e-40 (float32 holds it): uPlot's own log ticks failed on too long an array."""
    page.goto(service.url + "/dashboard")
    _, ticks, texts, _ = page.evaluate(AXIS, [[1.0, 1e-10, 1e-40], True, False])
    assert ticks[0] == 1e-40 and ticks[-1] == 1 and "1e-40" in texts and "1e-20" in texts
    assert page.errors == [] and page.violations() == []


ORDINARY = [([1, 2, 3], False), ([0.0002, 0.0008], False), ([-5.5, 120.25, 33], False), ([1e7, 3e5], False),
            ([0.16, 0.31, 0.2], False), ([1.85e-9, 1.95e-9], False), ([-4.7e-5, -3.9e-5], False), ([7.0], False),
            ([0.0], False), ([1e-4, 0.1], True), ([3e-5, 0.02, 7], True), ([12, 1.5e6], True), ([5.0], True)]


@pytest.mark.parametrize(("values", "log"), ORDINARY)
def test_an_ordinary_range_keeps_uplots_ticks(service, page, values, log):
    page.goto(service.url + "/dashboard")
    (low, high), ticks, texts, drawn = page.evaluate(AXIS, [values, log, False])
    (low_0, high_0), ticks_0, texts_0, drawn_0 = page.evaluate(AXIS, [values, log, True])
    assert (low, high) == (low_0, high_0) and texts == texts_0 and ticks == pytest.approx(ticks_0, rel=1e-12)
    assert drawn == drawn_0  # and the values drawn where uPlot draws them


# How many dark pixels a chart's canvas has left of its plot and beside it: its y axis' labels.
Y_LABEL_PIXELS = """(chart) => {
  const canvas = document.querySelector(`${chart} canvas`), plot = document.querySelector(`${chart} .u-over`);
  const [left, top, bottom] = [plot.offsetLeft, plot.offsetTop, plot.offsetTop + plot.offsetHeight].map(
    (v) => Math.round(v * devicePixelRatio));
  const { data } = canvas.getContext("2d").getImageData(0, top, left, bottom - top);
  let dark = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 128 && data[i] + data[i + 1] + data[i + 2] < 300) dark++;
  return dark;
}"""


def test_the_charts_label_an_f_near_float32s_largest_and_a_metric_near_float64s(service, page, artifacts):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sid = traced_session(http, "huge f", [3e37, 2e37, 1e37], metrics=[{"value": 1e308}, {"value": 1e308}])
    open_session(page, service.url, sid)
    until(page, lambda: points(page, "chart-f") == 3 and points(page, "chart-metrics") == 2, "both charts")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "huge-values.png"), full_page=True)
    for chart in ("#chart-f", "#chart-metrics"):
        assert page.evaluate(Y_LABEL_PIXELS, chart) > 100, chart
    assert page.errors == [] and page.violations() == []


@pytest.mark.parametrize("values", [[-1e308, 1e308], [5e-324, 1e308]])
def test_the_metrics_chart_labels_a_span_float64_cannot_hold_and_a_subnormal_metric(service, page, values):
    """-1e308 to 1e308 on a linear axis, 5e-324 to 1e308 on a log one (it spans decades)."""
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sid = traced_session(http, "extreme metrics", [1.0], metrics=[{"value": v} for v in values])
    open_session(page, service.url, sid)
    until(page, lambda: points(page, "chart-metrics") == 2, "the metrics chart")
    page.wait_for_timeout(300)
    assert page.get_attribute("#chart-metrics", "data-log") == str(values[0] > 0).lower()
    assert page.evaluate(Y_LABEL_PIXELS, "#chart-metrics") > 100
    assert page.errors == [] and page.violations() == []


@pytest.mark.parametrize("values", [[1000.0, 999.9999999999999], [5.0, 5.0], [1e-30]])
def test_a_constant_series_on_a_log_axis_is_drawn_inside_it(service, page, values):
    """A constant ‖g‖ of 1000 beside its EMA, 999.9999999999999: uPlot's log range was [1000, 1000],
    and the chart drew no line and no label."""
    page.goto(f"{service.url}/dashboard")
    (low, high), _, texts, (drawn, height) = page.evaluate(AXIS, [values, True, False])
    assert low < min(values) and max(values) < high and texts
    assert all(0 < y < height for y in drawn)
