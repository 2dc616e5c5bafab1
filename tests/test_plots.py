"""Plot helpers: each draws what it claims from the data it is given."""

import numpy as np

from resnet_course import plots


def test_confusion_matrix_counts_pairs():
    y_true = np.array([0, 0, 1, 5, 5, 5])
    y_pred = np.array([0, 1, 1, 5, 5, 0])
    counts = plots.confusion_matrix(y_true, y_pred)
    expected = np.zeros((6, 6), int)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    assert np.array_equal(counts, expected)


def test_plot_confusion_titles_the_accuracy():
    fig = plots.plot_confusion(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 0]))
    assert fig.axes[0].get_title() == "accuracy 0.750"


def test_sample_grid_has_one_row_per_class():
    x = np.zeros((60, 64, 64, 3), np.uint8)
    fig = plots.sample_grid(x, np.arange(60) % 6, per_class=5)
    assert len(fig.axes) == 30
    assert sum(len(ax.images) for ax in fig.axes) == 30


def test_class_balance_labels_bars_with_counts():
    fig = plots.class_balance(train=np.array([0, 0, 1, 5]), test=np.array([2]))
    labels = [t.get_text() for t in fig.axes[0].texts]
    # train counts 2,1,0,0,0,1 and test counts 0,0,1,0,0,0
    assert labels.count("2") == 1 and labels.count("1") == 3 and labels.count("0") == 8


def test_class_balance_leaves_out_a_split_the_source_does_not_have():
    fig = plots.class_balance(train=np.array([0, 1]), validation=None, test=np.array([2]))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train (2)", "test (1)"]


def test_training_curves_plot_train_and_test():
    fig = plots.training_curves({"loss": [2, 1], "accuracy": [0.3, 0.6], "val_loss": [2, 1.5], "val_accuracy": [0.2, 0.5]})
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]


def test_show_misclassified_titles_true_and_predicted():
    x = np.zeros((4, 64, 64, 3), np.uint8)
    fig = plots.show_misclassified(x, np.array([0, 1, 2, 3]), np.array([0, 4, 2, 1]))
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["1 -> 4", "3 -> 1"]
