"""What a session's charts draw, and what they say about the values they cannot draw."""

from __future__ import annotations

import httpx
from waits import points, until
from workloads import traced_session


def open_session(page, url: str, sid: str) -> None:
    page.goto(f"{url}/dashboard#s={sid}")
    page.reload()  # a fresh page for each session


def test_the_metrics_chart_decides_its_log_axis_from_its_own_values(service, page, artifacts):
    """f(x) spans four decades (a log axis), the reported loss reaches 0 and below: the metrics
    chart stays linear and draws every report; with log y ticked it draws the positive ones and
    says how many it left out."""
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sid = traced_session(http, "loss reaches zero", [1000.0, 100.0, 10.0, 1.0, 0.1],
                             metrics=[{"value": v} for v in (5.0, 0.0, -1.0, 100.0)])
    open_session(page, service.url, sid)
    until(page, lambda: points(page, "chart-f") == 5 and points(page, "chart-metrics") == 4, "both charts")
    assert page.get_attribute("#chart-f", "data-log") == "true"
    assert page.get_attribute("#chart-metrics", "data-log") == "false"
    assert page.locator("#chart-metrics canvas").count() == 1 and page.locator("#chart-metrics .note").count() == 0
    page.screenshot(path=str(artifacts / "metrics-linear.png"), full_page=True)

    page.uncheck("#logy")
    page.check("#logy")  # the user's log y: both charts
    until(page, lambda: page.get_attribute("#chart-metrics", "data-log") == "true", "the metrics on log y")
    until(page, lambda: page.locator("#chart-metrics .note").count() == 1, "the note")
    assert page.inner_text("#chart-metrics .note") == "2 values ≤ 0 not drawn: a log axis cannot show them"
    assert page.locator("#chart-metrics canvas").count() == 1  # 5 and 100 are still drawn
    assert page.errors == [] and page.violations() == []


def test_a_log_axis_with_nothing_above_zero_says_so(service, page):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sid = traced_session(http, "all below zero", [-3.0, -2.0, -1.0], metrics=[{"value": -1.0}, {"value": 0.0}])
    open_session(page, service.url, sid)
    until(page, lambda: points(page, "chart-f") == 3 and points(page, "chart-metrics") == 2, "both charts")
    page.check("#logy")
    until(page, lambda: "no f(x) > 0 to draw on a log axis" in page.inner_text("#chart-f"), "the f(x) chart's reason")
    until(page, lambda: "no metric > 0 to draw on a log axis" in page.inner_text("#chart-metrics"), "the metrics'")
    assert "3 values ≤ 0 not drawn" in page.inner_text("#chart-f .note")
    assert "2 values ≤ 0 not drawn" in page.inner_text("#chart-metrics .note")
    assert page.errors == [] and page.violations() == []


def test_f_beyond_float32_is_named_not_taken_for_no_step(service, page):
    """Steps told with an f(x) float32 cannot hold (the trace keeps null): the chart says so,
    not that no step was told, and counts them when others are drawn."""
    with httpx.Client(base_url=service.url, timeout=30) as http:
        huge = traced_session(http, "huge f", [1e39, -2e39])
        mixed = traced_session(http, "some huge f", [3.0, 1e39, 2.0, 1.0])
    open_session(page, service.url, huge)
    until(page, lambda: page.locator("#chart-f .none").count() == 1 and "2 steps" in page.inner_text("#detail-sub"),
          "the empty f(x) chart")
    text = page.inner_text("#chart-f")
    assert "no step has been told" not in text
    assert text == "no f(x) to draw: the steps told an f(x) beyond float32's range (|f| > 3.4e38, which the " \
                   "trace keeps as null)"
    open_session(page, service.url, mixed)
    until(page, lambda: points(page, "chart-f") == 4, "the drawn f(x)")
    until(page, lambda: page.locator("#chart-f .note").count() == 1, "the note")
    assert page.inner_text("#chart-f .note") == "1 of 4 kept steps told an f(x) beyond float32's range " \
                                                "(|f| > 3.4e38, which the trace keeps as null): not drawn"
    assert page.errors == [] and page.violations() == []


# The leftmost column of a chart's canvas, left of its plot, where text is drawn: a label cut by
# the canvas' edge starts at 0.
LEFTMOST_TEXT = """(chart) => {
  const canvas = document.querySelector(`${chart} canvas`);
  const left = document.querySelector(`${chart} .u-over`).offsetLeft * devicePixelRatio;
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let found = Infinity;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < Math.min(left, found); x++) {
      const i = 4 * (y * canvas.width + x);
      if (data[i + 3] > 128 && data[i] + data[i + 1] + data[i + 2] < 300) found = x;
    }
  }
  return found;
}"""


def test_a_y_axis_is_as_wide_as_its_labels(service, page, artifacts):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sid = traced_session(http, "ten million", [1e7, 5e6, 2e6, 1e6, 3e5])
    open_session(page, service.url, sid)
    until(page, lambda: points(page, "chart-f") == 5 and page.locator("#chart-f canvas").count() == 1, "f(x)")
    page.locator("#chart-f").screenshot(path=str(artifacts / "wide-labels.png"))
    leftmost = page.evaluate(LEFTMOST_TEXT, "#chart-f")
    assert 2 <= leftmost < 40, leftmost  # "10,000,000" whole, not cut at the edge
    assert page.errors == [] and page.violations() == []


# A y axis's labels for the ticks given, as uPlot asks for them.
AXIS_LABELS = """([ticks, log]) => import('/assets/charts.js').then(({ yAxis }) =>
  yAxis().values({ scales: { y: { distr: log ? 3 : 1 } }, axes: [{}, { scale: "y" }] }, ticks, 1))"""


def test_an_axis_writes_its_labels_in_one_notation(service, page):
    page.goto(service.url + "/dashboard")
    labels = lambda ticks, log=False: page.evaluate(AXIS_LABELS, [ticks, log])  # noqa: E731
    # lr from 1e-4 to 0.1 on a log axis: the powers of ten its filter left, all in exponent form
    assert labels([1e-4, None, None, 1e-3, 1e-2, 0.1], log=True) == ["1e-4", "", "", "1e-3", "1e-2", "1e-1"]
    assert labels([0.0002, 0.0004, 0.0006, 0.0008]) == ["2e-4", "4e-4", "6e-4", "8e-4"]
    assert labels([0, 2.5e-4, 5e-4]) == ["0", "2.5e-4", "5e-4"]
    assert labels([0.001, 0.01, 0.1, 1], log=True) == ["0.001", "0.01", "0.1", "1"]  # no label needs one
    assert labels([0, 0.5, 1, 1.5]) == ["0", "0.5", "1", "1.5"]
    assert labels([0, 5_000_000, 10_000_000]) == ["0", "5,000,000", "10,000,000"]  # whole numbers in full
    assert page.errors == [] and page.violations() == []


# How many pixels of the canvas of `chart` are near each colour (r, g, b): antialiased edges are
# blends with the white around them, so a colour counts where no channel is more than 40 off.
COLOURED = """([chart, colours]) => {
  const canvas = document.querySelector(`${chart} canvas`);
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return colours.map(([r, g, b]) => {
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40) n++;
    }
    return n;
  });
}"""
LR, MU = (0x16, 0xA3, 0x4A), (0x93, 0x33, 0xEA)


def test_lr_equal_to_mu_stays_visible_under_it(service, page, artifacts):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sid = http.post("/v1/sessions", json={"dim": 2, "directions": 1, "name": "lr = mu", "x0": [0.0, 0.0],
                                              "lr": 1e-4, "mu": 1e-4, "schedule": None}).json()["id"]
        for step in range(30):
            assert http.post(f"/v1/sessions/{sid}/tell", json={"step": step, "f_x": 1.0, "f_plus": [1.0]}).is_success
    open_session(page, service.url, sid)
    until(page, lambda: points(page, "chart-schedule") == 30 and page.locator("#chart-schedule canvas").count() == 1,
          "lr and mu")
    page.locator("#chart-schedule").screenshot(path=str(artifacts / "lr-equals-mu.png"))
    lr, mu = page.evaluate(COLOURED, ["#chart-schedule", [LR, MU]])
    assert mu > 100 and lr > mu / 4, (lr, mu)  # both drawn: lr between mu's dashes
    assert page.errors == [] and page.violations() == []


def test_the_compare_views_smoothing_is_per_step_whatever_stride_the_trace_keeps(service, page):
    """The trace keeps every step, then every 2nd, 4th, ...: the EMA ran per kept point, so a run
    that had gone on longer (a wider stride) drew the same steps higher, 1.5 to 2 times in the
    compare view.  There a point standing for g steps now decays the past by alpha^g; a run's
    own chart smooths per point, where per step would not smooth a long run's wide strides."""
    page.goto(service.url + "/dashboard")
    ratios = page.evaluate("""async () => {
        const { ema } = await import("/assets/charts.js");
        const f = (s) => Math.exp(-s / 400);
        const every = Array.from({ length: 801 }, (_, s) => s);
        const strided = [...Array(100).keys(), ...Array.from({ length: 176 }, (_, i) => 100 + 4 * i)];
        const dense = ema(every.map(f), 0.9, every), sparse = ema(strided.map(f), 0.9, strided);
        const perPoint = ema(strided.map(f), 0.9);  // a run's own chart: it still smooths wide strides
        return [[400, 600, 800].map((s) => sparse[strided.indexOf(s)] / dense[s]),
                perPoint[strided.indexOf(800)] / f(800)];
    }""")
    assert all(abs(ratio - 1) < 0.01 for ratio in ratios[0]), ratios
    assert ratios[1] > 1.05, ratios  # per point, the curve lags a falling f by about 10 kept points
    assert page.errors == []


def test_only_a_metric_named_an_accuracy_takes_the_labelled_accuracy_axis(service, page):
    """Any name holding "acc" was an accuracy: grad_accum_total (0 to 5,000) shared the right axis
    with an accuracy of 0.5 to 0.9, which lay flat on it, and the axis had no label."""
    page.goto(f"{service.url}/dashboard")
    names = ["accuracy", "test_acc", "top1-accuracy", "Acc", "val_acc_top5", "valAcc", "testAccuracy",
             "grad_accum_total", "acceptance_rate", "accel", "macc", "gradAccum"]
    taken = page.evaluate("async (names) => { const { isAccuracy } = await import('/assets/format.js');"
                          " return names.map(isAccuracy); }", names)
    assert dict(zip(names, taken, strict=True)) == {
        "accuracy": True, "test_acc": True, "top1-accuracy": True, "Acc": True, "val_acc_top5": True, "valAcc": True,
        "testAccuracy": True, "grad_accum_total": False, "acceptance_rate": False, "accel": False, "macc": False,
        "gradAccum": False}
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sid = traced_session(http, "two scales", [3.0, 2.0], metrics=[
            {"value": 10.0 - t, "metrics": {"accuracy": 0.5 + 0.1 * t, "grad_accum_total": 1000.0 * (t + 1)}}
            for t in range(5)])
    open_session(page, service.url, sid)
    until(page, lambda: points(page, "chart-metrics") == 5, "the metrics")
    assert page.get_attribute("#chart-metrics", "data-labels").endswith("| accuracy")
    # the table's last report, the name as sent
    until(page, lambda: "accuracy 0.9" in page.inner_text(f'tr[data-id="{sid}"] td.metric'), "the last report")
    assert page.errors == [] and page.violations() == []
