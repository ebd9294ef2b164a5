"""The input pipeline the chapters give ``model.fit``: seeded, and shuffled anew every epoch.

With Keras 3 on TensorFlow, ``keras.utils.set_random_seed`` followed by
``model.fit(x, y, shuffle=True)`` feeds the training set in the same order in every
epoch (see the warning on the notebook comparison page). A ``tf.data`` pipeline with a
seeded ``shuffle(..., reshuffle_each_iteration=True)`` draws a new order each epoch and
the same sequence of orders for the same seed. Give it to ``fit`` with ``shuffle=False``:
the pipeline shuffles, and Keras warns that it ignores ``shuffle=True`` for a dataset.
"""

# --8<-- [start:shuffled_batches]
import tensorflow as tf


def shuffled_batches(x, y, seed, batch_size=32):
    """(x, y) in batches, in a new order every epoch; the same seed gives the same orders."""
    data = tf.data.Dataset.from_tensor_slices((x, y))
    return data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)


# --8<-- [end:shuffled_batches]
