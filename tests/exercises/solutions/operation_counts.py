"""Solution of the operation_counts exercise."""

from tinymin import nn


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _out(size, kernel, stride, padding):
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, padding))


def operation_counts(model, input_shape, folded=True):
    rows, shape = [], tuple(input_shape)
    for index, layer in enumerate(model):
        row = {"multiplications": 0, "comparisons": 0, "sign_flips": 0, "additions": 0}
        if isinstance(layer, (nn.Conv2d, nn.MinConv2d)):
            oh, ow = _out(shape[1:], layer.kernel_size, layer.stride, layer.padding)
            outputs = oh * ow * layer.out_channels
            pairs = outputs * shape[0] * layer.kernel_size[0] * layer.kernel_size[1]
            row["additions"] = pairs
            if isinstance(layer, nn.MinConv2d):
                row.update(comparisons=pairs, sign_flips=pairs, multiplications=0 if folded else outputs)
            else:
                row["multiplications"] = pairs
            shape = (layer.out_channels, oh, ow)
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            kernel = _pair(layer.kernel_size)
            stride = kernel if layer.stride is None else _pair(layer.stride)
            oh, ow = _out(shape[1:], kernel, stride, _pair(layer.padding))
            outputs, window = shape[0] * oh * ow, kernel[0] * kernel[1]
            if isinstance(layer, nn.MaxPool2d):
                row["comparisons"] = outputs * (window - 1)
            else:
                row.update(additions=outputs * (window - 1), multiplications=outputs)
            shape = (shape[0], oh, ow)
        elif isinstance(layer, nn.ReLU):
            size = 1
            for n in shape:
                size *= n
            row["comparisons"] = size
        elif isinstance(layer, nn.Flatten):
            size = 1
            for n in shape:
                size *= n
            shape = (size,)
            continue
        elif isinstance(layer, nn.Linear):
            pairs = layer.in_features * layer.out_features
            row.update(multiplications=pairs, additions=pairs)
            shape = (layer.out_features,)
        rows.append({"layer": f"{index}: {type(layer).__name__}", **row})
    return rows
