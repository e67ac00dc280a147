"""`cnnkit demo`: train a small MNIST convnet on the built-in 5,000 digits and report the test accuracy."""

import os
import time


def demo(args):
    from cnnkit.applications import SmallConvNet  # noqa: PLC0415
    from cnnkit.datasets import mnist_5k  # noqa: PLC0415
    from cnnkit.utils import set_random_seed  # noqa: PLC0415
    from cnnkit.utils import to_categorical  # noqa: PLC0415

    start = time.perf_counter()
    set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    print(f"mnist_5k: {len(x_train)} training and {len(x_test)} test digits (28x28, 10 classes)")
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
    model = SmallConvNet()
    model.summary()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, to_categorical(y_train, 10), batch_size=args.batch_size, epochs=args.epochs,
                        verbose=args.verbose)
    test_loss, test_acc = model.evaluate(x_test, to_categorical(y_test, 10), verbose=0)
    print(f"test loss: {test_loss:.4f} - test accuracy: {test_acc:.4f} ({time.perf_counter() - start:.0f}s in all)")
    if args.out:
        from cnnkit.visualization.report import write_report  # noqa: PLC0415

        path = write_report(os.path.join(args.out, "report.html"), model, history, x_test, y_test,
                            train_data=(x_train[:16], y_train[:16]),
                            title="cnnkit demo: a small convnet on 5,000 handwritten digits (mnist_5k)",
                            info={"data": "mnist_5k: 4,000 training, 1,000 test digits (the report's validation)",
                                  "epochs": args.epochs, "test accuracy": f"{test_acc:.4f}"})
        print(f"report: {path}")
    return 0
