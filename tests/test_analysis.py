"""Analysis measures on hand-made record sets with known answers.

The main fixture is seed 000's one-cycle log (three runs of a CIFAR-10 CNN, max LR 0.1),
transcribed below from ``shared/seeds/000_*.txt``: epoch, last LR, train loss, test loss,
test accuracy, epoch time. The expected numbers in the tests were worked out by hand from
that log (e.g. run 1's two eval-loss spikes above 5 % at epochs 20 and 23).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab._io import jsonable
from lrlab.analysis import (
    Comparison,
    Stat,
    compare,
    initial_plateau,
    loss_spikes,
    pick_metric,
    render,
    spike_runs,
    time_to_target,
    to_csv,
    to_markdown,
)
from lrlab.errors import InvalidArgument

# epoch  last_lr  train_loss  test_loss  acc  epoch_time     ("-": not logged at epoch 0)
SEED000_LOG = """
# run 1
0 - - 1.9434 0.2464 0
1 0.00504 1.8327 1.8146 0.2464 20.77127418300006
2 0.00813 1.8074 1.8020 0.2464 21.51171146699926
3 0.01313 1.7927 1.7830 0.2542 21.817829363000783
4 0.01984 1.7804 1.7578 0.2792 21.491136955999536
5 0.02796 1.7635 1.7168 0.3211 22.200851730998693
6 0.03713 1.6624 1.5572 0.3922 21.46276682199823
7 0.04695 1.5366 1.4494 0.4401 21.401191329998255
8 0.05698 1.3951 1.3207 0.5053 21.444350102003227
9 0.06681 1.2863 1.2429 0.5273 22.27712406900173
10 0.07598 1.2042 1.1552 0.5669 20.633371522002562
11 0.08410 1.1566 1.1524 0.5603 20.563981666000473
12 0.09082 1.1284 1.1181 0.5790 20.41787198399834
13 0.09585 1.0906 1.0794 0.5956 20.43236611699831
14 0.09895 1.0575 1.1001 0.5870 20.40118581799834
15 0.10000 1.0369 1.0661 0.6015 20.43618834299923
16 0.09980 1.0088 1.0587 0.6018 20.38982864600257
17 0.09920 0.9872 1.0124 0.6144 20.4130668100006
18 0.09820 0.9635 1.0328 0.6172 20.707737783002813
19 0.09681 0.9497 1.0132 0.6168 21.067171148999478
20 0.09505 0.9270 1.0796 0.6051 22.16312188399752
21 0.09292 0.9143 1.0225 0.6187 22.234444877001806
22 0.09045 0.8868 1.0320 0.6263 22.220893521996913
23 0.08765 0.8698 1.0767 0.6134 21.038133617999847
24 0.08455 0.8526 1.0082 0.6252 20.478741517003073
25 0.08117 0.8324 0.9995 0.6454 20.605114516998583
26 0.07754 0.8120 0.9945 0.6444 20.44582260199968
27 0.07369 0.8036 1.0214 0.6331 20.560613928002567
28 0.06965 0.7741 1.0424 0.6232 20.462572373999137
29 0.06545 0.7565 1.0209 0.6430 20.532126756999787
30 0.06113 0.7415 0.9622 0.6506 20.476503754001897
# run 2
0 - - 1.9448 0.1187 0
1 0.00504 1.8326 1.8182 0.2464 20.430870942000183
2 0.00813 1.8076 1.8079 0.2464 20.426611379996757
3 0.01313 1.7939 1.7882 0.2514 20.469042197000817
4 0.01984 1.7816 1.7750 0.2503 20.535134005000145
5 0.02796 1.7550 1.7239 0.3079 20.528440664998925
6 0.03713 1.6688 1.6014 0.3751 20.59459003399752
7 0.04695 1.5430 1.5164 0.3885 20.901872077000007
8 0.05698 1.4135 1.3962 0.4577 20.66442835199996
9 0.06681 1.2962 1.2240 0.5291 20.546361112999875
10 0.07598 1.2186 1.1886 0.5474 20.473032767000404
11 0.08410 1.1636 1.1748 0.5530 20.450702705998992
12 0.09082 1.1223 1.1151 0.5743 20.493495481001446
13 0.09585 1.0798 1.1295 0.5650 21.654971316998854
14 0.09895 1.0611 1.1063 0.5827 20.641760803999205
15 0.10000 1.0343 1.0428 0.6115 20.435725614999683
16 0.09980 1.0109 1.0609 0.6033 20.692933515998448
17 0.09920 0.9832 1.0382 0.6021 21.678868292001425
18 0.09820 0.9721 1.0746 0.6039 21.16132479799853
19 0.09681 0.9379 1.0430 0.6186 20.4206570690003
20 0.09505 0.9224 1.0261 0.6228 20.416917537997506
21 0.09292 0.9091 1.0083 0.6290 21.68928173200038
22 0.09045 0.8896 0.9930 0.6387 20.917490384999837
23 0.08765 0.8672 0.9649 0.6408 20.82462919599857
24 0.08455 0.8459 1.0716 0.6090 21.411107676001848
25 0.08117 0.8264 1.0212 0.6205 21.217791615999886
26 0.07754 0.8228 1.0059 0.6349 21.455417240002134
27 0.07369 0.7860 1.0036 0.6469 20.45798729800299
28 0.06965 0.7700 1.0129 0.6349 20.399438870997983
29 0.06545 0.7565 1.0077 0.6433 20.695092682002723
30 0.06113 0.7340 1.0643 0.6374 21.270648433001043
31 0.05671 0.7189 1.0172 0.6519 20.464886062000005
# run 3
0 - - 1.9437 0.1861 0
1 0.00504 1.8310 1.8157 0.2464 20.484282567002083
2 0.00813 1.8084 1.8015 0.2464 20.507033457000944
3 0.01313 1.7905 1.7839 0.2499 20.508816221001325
4 0.01984 1.7784 1.7680 0.2650 21.290018457999395
5 0.02796 1.7428 1.6847 0.3179 21.753015756999957
6 0.03713 1.6371 1.5537 0.4103 20.507182631001342
7 0.04695 1.4996 1.4251 0.4453 20.504931455998303
8 0.05698 1.3425 1.2762 0.5278 21.13375164900208
9 0.06681 1.2516 1.2268 0.5353 21.660843765999743
10 0.07598 1.1860 1.1683 0.5522 21.25458264900226
11 0.08410 1.1500 1.1032 0.5862 20.500386163999792
12 0.09082 1.1043 1.1254 0.5780 20.73817109599986
13 0.09585 1.0923 1.1253 0.5795 21.77888723599972
14 0.09895 1.0547 1.1084 0.5898 21.305494626001746
15 0.10000 1.0323 1.0779 0.5930 20.438127809000434
16 0.09980 1.0043 1.0343 0.6053 21.21511968300183
17 0.09920 0.9794 1.0750 0.6059 21.018143819001125
18 0.09820 0.9644 1.0762 0.6023 20.714137245999154
19 0.09681 0.9429 1.0288 0.6116 20.4931333429995
20 0.09505 0.9219 1.0690 0.6147 20.429506401000253
21 0.09292 0.9051 0.9988 0.6304 20.6859948780002
22 0.09045 0.8847 0.9981 0.6348 21.86890993599809
23 0.08765 0.8810 1.0094 0.6286 21.47331870600101
24 0.08455 0.8537 1.0216 0.6282 21.20999115700033
25 0.08117 0.8255 1.0150 0.6324 20.615915567002958
26 0.07754 0.8195 0.9957 0.6320 20.39998789499805
27 0.07369 0.7891 0.9734 0.6460 20.40146310199998
28 0.06965 0.7755 0.9623 0.6522 20.391993987002934"""

CHANCE = 0.2464  # seed 000's majority-class accuracy (the "first plateau" level)


def parse_seed000() -> dict[int, list[dict]]:
    """The three runs as lrlab records (elapsed = cumulative epoch time, no iterations)."""
    runs: dict[int, list[dict]] = {}
    run = 0
    for line in SEED000_LOG.strip().splitlines():
        if line.startswith("#"):
            run += 1
            runs[run] = []
            elapsed = 0.0
            continue
        epoch, lr, train_loss, test_loss, acc, seconds = line.split()
        elapsed += float(seconds)
        record = {"epoch": int(epoch), "eval_loss": float(test_loss), "eval_accuracy": float(acc)}
        if lr != "-":
            record.update(
                lr=float(lr),
                train_loss=float(train_loss),
                epoch_time=float(seconds),
                elapsed=elapsed,
            )
        else:
            record["elapsed"] = 0.0
        runs[run].append(record)
    return runs


RUNS = parse_seed000()


# --------------------------------------------------------------------------- the fixture


def test_fixture_transcribes_all_three_runs():
    assert [len(r) for r in RUNS.values()] == [31, 32, 29]  # epochs 0..30, 0..31, 0..28
    assert RUNS[1][0] == {"epoch": 0, "eval_loss": 1.9434, "eval_accuracy": 0.2464, "elapsed": 0.0}
    # The log's own wall clock per run (0:10:31, 0:10:44, 0:09:45) is the sum of epoch times
    # plus evaluation: the transcription's elapsed must be just below it.
    walls = [631.077807, 644.452999, 585.309634]
    for records, wall in zip(RUNS.values(), walls, strict=True):
        assert 0.97 * wall < records[-1]["elapsed"] < wall


# --------------------------------------------------------------------------- final / best


def test_final_and_best_mean_std_over_seed000_runs():
    c = compare({"one-cycle": RUNS}, chance=CHANCE)
    v = c.variant("one-cycle")
    assert (c.metric, c.key, c.higher_is_better) == ("accuracy", "eval_accuracy", True)
    finals = [0.6506, 0.6519, 0.6522]  # last lines of the three runs
    assert v.final_metric.values == tuple(finals)
    assert v.final_metric.mean == pytest.approx(statistics.mean(finals))
    assert v.final_metric.std == pytest.approx(statistics.stdev(finals))
    assert v.best_metric.values == (0.6506, 0.6519, 0.6522)  # each run ends at its best
    # Best eval loss is not the last one in run 2: 0.9649 at epoch 23.
    assert v.best_loss.values == (0.9622, 0.9649, 0.9623)
    assert v.final_loss.values == (0.9622, 1.0172, 0.9623)
    # "Average running time: 10:20 minutes" — the mean total time of the runs.
    assert v.total_time.mean == pytest.approx(620.0, abs=12.0)
    epoch_times = [[r["epoch_time"] for r in run[1:]] for run in RUNS.values()]
    assert v.epoch_time.values == pytest.approx([statistics.mean(t) for t in epoch_times])
    assert v.diverged == 0


def test_stat_ignores_non_finite_values_and_is_nan_for_one_value():
    s = Stat.of([1.0, float("nan"), 3.0, None])
    assert (s.mean, s.n) == (2.0, 2)
    assert s.std == pytest.approx(math.sqrt(2.0))
    one = Stat.of([5.0])
    assert one.mean == 5.0 and math.isnan(one.std) and one.n == 1
    empty = Stat.of([])
    assert empty.n == 0 and math.isnan(empty.mean)


# --------------------------------------------------------------------------- time to target


def test_time_to_target_on_seed000():
    hits = [time_to_target(r, 0.60) for r in RUNS.values()]
    assert [h.epoch for h in hits] == [15, 15, 16]  # 0.6015, 0.6115, 0.6053
    assert hits[0].elapsed == pytest.approx(sum(r["epoch_time"] for r in RUNS[1][1:16]))
    assert hits[0].iteration is None  # the log has no iteration counts
    assert time_to_target(RUNS[1], 0.70) is None
    # A loss target is reached from above.
    assert time_to_target(RUNS[1], 1.0, key="eval_loss", higher_is_better=False).epoch == 25


def test_default_target_is_the_weakest_control_seeds_best():
    c = compare({"control": RUNS, "same": RUNS})
    assert c.target == 0.6506 and c.target_source == "control" and c.control == "control"
    # Every control seed reaches it, at its own last epoch here: 30, 31 (0.6469 at 27 is
    # below), 28.
    v = c.variant("control")
    assert v.reached == 3
    assert v.epochs_to_target.values == (30.0, 31.0, 28.0)
    assert v.epochs_to_target.mean == pytest.approx(89 / 3)


def test_given_target_and_iterations_to_target():
    records = [
        {"epoch": 0, "iteration": 0, "eval_accuracy": 0.1, "elapsed": 0.0},
        {"epoch": 1, "iteration": 50, "eval_accuracy": 0.4, "elapsed": 2.0},
        {"epoch": 2, "iteration": 100, "eval_accuracy": 0.8, "elapsed": 4.5},
        {"epoch": 3, "iteration": 150, "eval_accuracy": 0.9, "elapsed": 7.0},
    ]
    slow = [dict(r, eval_accuracy=min(r["eval_accuracy"], 0.5)) for r in records]
    c = compare({"a": {0: records, 1: records}, "b": {0: slow, 1: records}}, target=0.75)
    assert c.target_source == "given"
    a, b = c.variant("a"), c.variant("b")
    assert a.iterations_to_target.values == (100.0, 100.0) and a.reached == 2
    assert a.time_to_target.mean == 4.5
    assert b.reached == 1 and b.epochs_to_target.values == (2.0,)
    assert "(1/2)" in to_markdown(c)  # a variant that did not always reach it says so


# --------------------------------------------------------------------------- spikes


def test_eval_loss_spikes_of_seed000_run1():
    spikes = loss_spikes(RUNS[1], threshold=0.05)
    # Running minimum 1.0124 (epoch 17); 1.0796 at epoch 20 and 1.0767 at epoch 23 are the
    # only rises above 5 %; 1.0424 at epoch 28 is 4.8 % above the new minimum 0.9945.
    assert [(s.start, s.peak, s.end) for s in spikes] == [(20, 20, 20), (23, 23, 23)]
    assert [s.reference for s in spikes] == [1.0124, 1.0124]
    assert spikes[0].size == pytest.approx(1.0796 / 1.0124 - 1)
    assert spikes[1].size == pytest.approx(1.0767 / 1.0124 - 1)
    # A lower threshold finds the smaller rises too (epoch 28: +4.8 %, epoch 18: +2.0 %).
    peaks = [s.peak for s in loss_spikes(RUNS[1], threshold=0.04)]
    assert peaks == [20, 23, 28]
    # The train loss of a one-cycle run falls every epoch: no spikes.
    assert loss_spikes(RUNS[1], key="train_loss", threshold=0.0) == []


def test_spike_runs_group_consecutive_raised_points():
    #         0    1    2    3    4    5     6    7             8     9
    values = [2.0, 1.0, 1.2, 1.3, 0.9, 0.95, 2.0, float("nan"), 1.95, 0.5]
    runs = spike_runs(values, threshold=0.1)
    # 1.2 and 1.3 (> 1.1 × 1.0) are one spike peaking at 3; 0.9 is a new minimum; 1.0 is
    # 0.95 is within 10 % of 0.9; 2.0, NaN (skipped), 1.95 are one spike peaking at 6.
    assert runs == [(2, 3, 3, 1.0), (6, 6, 8, 0.9)]


def naive_spike_runs(values, threshold):
    """Reference: the definition written out literally (O(n²))."""
    raised = []
    for i, x in enumerate(values):
        earlier = [v for v in values[:i] if not math.isnan(v)]
        raised.append(not math.isnan(x) and bool(earlier) and x > (1 + threshold) * min(earlier))
    runs, current = [], []
    for i, x in enumerate(values):
        if math.isnan(x):
            continue
        if raised[i]:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    out = []
    for run in runs:
        reference = min(v for v in values[: run[0]] if not math.isnan(v))
        peak = max(run, key=lambda i: (values[i], -i))
        out.append((run[0], peak, run[-1], reference))
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(0.01, 10.0), st.just(float("nan"))),
        max_size=40,
    ),
    st.sampled_from([0.0, 0.02, 0.05, 0.3]),
)
def test_spike_runs_match_the_literal_definition(values, threshold):
    assert spike_runs(values, threshold) == naive_spike_runs(values, threshold)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.01, 10.0), min_size=1, max_size=30), st.floats(0.1, 100.0))
def test_spikes_are_scale_free_and_absent_from_falling_curves(values, scale):
    assert len(spike_runs(values, 0.05)) == len(spike_runs([v * scale for v in values], 0.05))
    assert spike_runs(sorted(values, reverse=True), 0.0) == []


def test_threshold_must_not_be_negative():
    with pytest.raises(InvalidArgument, match="threshold"):
        spike_runs([1.0, 2.0], threshold=-0.1)


# --------------------------------------------------------------------------- plateau


def test_initial_plateau_of_seed000_runs():
    # Level 0.2464 + 0.01: run 1 leaves at epoch 4 (0.2792), run 2 at epoch 5 (0.3079;
    # 0.2514 and 0.2503 are still within the tolerance), run 3 at epoch 4 (0.2650). Runs 2
    # and 3 start *below* the level (0.1187, 0.1861): still the plateau.
    plateaus = [initial_plateau(r, CHANCE, tol=0.01) for r in RUNS.values()]
    assert [p.epochs for p in plateaus] == [3, 4, 3]
    assert all(p.left for p in plateaus)
    # With no tolerance run 1 leaves at epoch 3 (0.2542).
    assert initial_plateau(RUNS[1], CHANCE, tol=0.0).epochs == 2
    c = compare({"one-cycle": RUNS}, chance=CHANCE)
    assert c.variant("one-cycle").plateau_epochs.mean == pytest.approx(10 / 3)


def test_plateau_that_never_ends_is_censored_and_counts_iterations():
    records = [{"epoch": e, "iteration": 10 * e, "eval_accuracy": 0.25} for e in range(4)]
    p = initial_plateau(records, 0.25)
    assert (p.epochs, p.iterations, p.left) == (3, 30, False)
    records[3]["eval_accuracy"] = 0.5
    p = initial_plateau(records, 0.25)
    assert (p.epochs, p.iterations, p.left) == (2, 20, True)
    assert initial_plateau(records[:1], 0.25) is None  # nothing trained yet
    with pytest.raises(InvalidArgument, match="chance"):
        initial_plateau(records, 25.0)


# --------------------------------------------------------------------------- divergence


def test_diverged_runs_are_counted_and_left_out_of_loss_means():
    good = [{"epoch": 0, "eval_loss": 2.0}, {"epoch": 1, "train_loss": 1.0, "eval_loss": 1.5}]
    # JSON writes NaN as null: a present-but-null loss means the run blew up.
    bad = [{"epoch": 0, "eval_loss": 2.0}, {"epoch": 1, "train_loss": None, "eval_loss": None}]
    c = compare({"v": {0: good, 1: bad}}, metric="loss")
    v = c.variant("v")
    assert v.diverged == 1
    assert v.final_loss.n == 1 and v.final_loss.mean == 1.5
    assert c.metric == "loss" and not c.higher_is_better


# --------------------------------------------------------------------------- comparison API


def test_pick_metric_prefers_eval_accuracy_then_other_metrics_then_loss():
    assert pick_metric({"a": {0: RUNS[1]}}) == ("accuracy", "eval_accuracy")
    assert pick_metric({"a": {0: [{"eval_loss": 1.0, "eval_mse": 2.0}]}}) == ("mse", "eval_mse")
    assert pick_metric({"a": {0: [{"train_loss": 1.0}]}}) == ("loss", "train_loss")


def test_compare_rejects_unknown_control_and_empty_input():
    with pytest.raises(InvalidArgument, match="control='nope'"):
        compare({"a": RUNS}, control="nope")
    with pytest.raises(InvalidArgument, match="No trials"):
        compare({})


def test_comparison_round_trips_through_json():
    c = compare({"control": RUNS, "other": {1: RUNS[2]}}, chance=CHANCE)
    text = json.dumps(jsonable(c.to_dict()), allow_nan=False)  # NaN -> null, as on disk
    again = Comparison.from_dict(json.loads(text))
    assert json.dumps(jsonable(again.to_dict()), allow_nan=False) == text
    assert to_markdown(again) == to_markdown(c)


# --------------------------------------------------------------------------- table


def test_markdown_csv_and_text_tables():
    c = compare({"control": RUNS, "treated": RUNS}, chance=CHANCE)
    md = to_markdown(c)
    lines = md.strip().splitlines()
    assert "target accuracy 0.6506" in lines[0]
    header = lines[2]
    assert header.startswith("| variant | seeds | final accuracy | best accuracy |")
    assert lines[4].startswith("| control (control) | 3 | 0.6516 ± 0.0009 |")
    rows = list(csv.DictReader(io.StringIO(to_csv(c))))
    assert [r["variant"] for r in rows] == ["control", "treated"]
    assert float(rows[0]["final_metric_mean"]) == pytest.approx(
        statistics.mean([0.6506, 0.6519, 0.6522])
    )
    assert rows[0]["control"] == "true" and rows[1]["control"] == "false"
    assert rows[0]["plateau_epochs_n"] == "3"
    text = render(c, "text")
    assert "control (control)" in text and "0.6516 ± 0.0009" in text
    with pytest.raises(InvalidArgument, match="table format"):
        render(c, "html")


# --------------------------------------------------------------------------- properties

accuracies = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(st.lists(accuracies, min_size=1, max_size=5))
def test_final_and_best_stats_match_the_statistics_module(runs):
    trials = {
        "v": {
            seed: [{"epoch": e, "eval_accuracy": a, "eval_loss": 1.0} for e, a in enumerate(run)]
            for seed, run in enumerate(runs)
        }
    }
    v = compare(trials).variant("v")
    finals = [run[-1] for run in runs]
    bests = [max(run[1:]) if len(run) > 1 else run[0] for run in runs]  # trained epochs
    assert v.final_metric.mean == pytest.approx(statistics.mean(finals))
    assert v.best_metric.values == pytest.approx(bests)
    if len(runs) > 1:
        assert v.final_metric.std == pytest.approx(statistics.stdev(finals), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(accuracies, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_a_higher_target_is_never_reached_sooner(run, t1, t2):
    records = [{"epoch": e, "eval_accuracy": a} for e, a in enumerate(run)]
    low, high = sorted((t1, t2))
    hit_low, hit_high = time_to_target(records, low), time_to_target(records, high)
    if hit_high is not None:
        assert hit_low is not None and hit_low.epoch <= hit_high.epoch
    if hit_low is not None:
        assert records[hit_low.epoch]["eval_accuracy"] >= low
        assert all(r["eval_accuracy"] < low for r in records[: hit_low.epoch])
