"""Y axes over float64's whole range: ticks, grid lines and labels for an f near float32's largest
value, a metric near float64's, values near 0, on linear and log axes; ordinary ranges keep
uPlot's own ticks."""

from __future__ import annotations

import httpx
import pytest
from test_detail_charts import open_session
from waits import points, until
from workloads import traced_session

# A y axis as the dashboard's charts make one (charts.js), over `values`: [its range, its ticks,
# their labels]; `bare`: uPlot's own axis and range.
AXIS = """async ([values, log, bare]) => {
  const { logScale, xAxis, yAxis } = await import("/assets/charts.js");
  const node = document.body.appendChild(document.createElement("div"));
  const axis = yAxis(), scale = logScale(log);
  if (bare) { delete axis.incrs; delete axis.splits; delete scale.range; }
  const u = new uPlot({ width: 600, height: 240, scales: { x: { time: false }, y: scale },
    axes: [xAxis("step"), axis], series: [{}, {}] }, [values.map((v, i) => i), values], node);
  await new Promise((drawn) => setTimeout(drawn));
  const found = [[u.scales.y.min, u.scales.y.max], u.axes[1]._splits, u.axes[1]._values];
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
    ([1.5e308, 1e300], True, ["1e301", "1e303", "1e305", "1e307"]),  # every other decade: room for it
    ([1e-40, 1e-30], True, ["1e-40", "1e-38", "1e-36", "1e-34", "1e-32", "1e-30"]),
])
def test_an_axis_has_ticks_over_float64s_range(service, page, values, log, labels):
    page.goto(service.url + "/dashboard")
    (low, high), ticks, texts = page.evaluate(AXIS, [values, log, False])
    assert [t for t in texts if t] == labels
    assert low <= min(values) and max(values) <= high < float("inf")
    slack = 1e-12 * max(abs(low), abs(high))  # a power of ten as written, or as 10 ** k computes it
    assert len(ticks) == len(texts) and all(low - slack <= t <= high + slack for t in ticks)
    assert page.errors == [] and page.violations() == []


def test_a_log_axis_reaches_down_to_a_converged_f(service, page):
    """f from 1 to 1e-40 (float32 holds it): uPlot's own log ticks failed on too long an array."""
    page.goto(service.url + "/dashboard")
    _, ticks, texts = page.evaluate(AXIS, [[1.0, 1e-10, 1e-40], True, False])
    assert ticks[0] == 1e-40 and ticks[-1] == 1 and "1e-40" in texts and "1e-24" in texts
    assert page.errors == [] and page.violations() == []


ORDINARY = [([1, 2, 3], False), ([0.0002, 0.0008], False), ([-5.5, 120.25, 33], False), ([1e7, 3e5], False),
            ([0.16, 0.31, 0.2], False), ([1.85e-9, 1.95e-9], False), ([-4.7e-5, -3.9e-5], False), ([7.0], False),
            ([0.0], False), ([1e-4, 0.1], True), ([3e-5, 0.02, 7], True), ([12, 1.5e6], True), ([5.0], True)]


@pytest.mark.parametrize(("values", "log"), ORDINARY)
def test_an_ordinary_range_keeps_uplots_ticks(service, page, values, log):
    page.goto(service.url + "/dashboard")
    (low, high), ticks, texts = page.evaluate(AXIS, [values, log, False])
    (low_0, high_0), ticks_0, texts_0 = page.evaluate(AXIS, [values, log, True])
    assert (low, high) == (low_0, high_0) and texts == texts_0 and ticks == pytest.approx(ticks_0, rel=1e-12)


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
