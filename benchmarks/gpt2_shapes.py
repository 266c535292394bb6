"""Parameter shapes of GPT-2 small (124M parameters, 148 tensors)."""


def gpt2_small_shapes(layers: int = 12, width: int = 768, vocab: int = 50257,
                      context: int = 1024) -> list:
    shapes = [(vocab, width), (context, width)]
    for _ in range(layers):
        shapes += [
            (width,), (width,),                      # ln_1
            (width, 3 * width), (3 * width,),        # attn.c_attn
            (width, width), (width,),                # attn.c_proj
            (width,), (width,),                      # ln_2
            (width, 4 * width), (4 * width,),        # mlp.c_fc
            (4 * width, width), (width,),            # mlp.c_proj
        ]
    shapes += [(width,), (width,)]                   # ln_f
    return shapes
