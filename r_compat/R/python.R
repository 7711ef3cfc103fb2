# Fit, predict and attack robustsk defenses (Python) from R, through reticulate.
#
# Only plain vectors and lists cross the language boundary: x goes over as
# as.numeric(t(x)) plus its dimensions, and the Python helper module
# robustsk._r_bridge builds the arrays. reticulate 1.28 (Debian bookworm)
# cannot convert matrices to or from NumPy 2 ("incompatible NumPy binary
# version"); vectors and lists convert with every reticulate version.
# Python is loaded lazily: nothing starts before the first rsk_* call.

.rsk <- new.env(parent = emptyenv())

.rsk_install_hint <- paste(
  "robustsk's R wrappers need the R package 'reticulate' (apt-get install r-cran-reticulate)",
  "and a Python with robustsk installed (pip install robustsk, or pip install -e . in a",
  "checkout). Point R at that Python with Sys.setenv(ROBUSTSK_PYTHON = '/path/to/python'),",
  "options(robustsk.python = ...) or reticulate::use_python() before the first rsk_* call.")

.onLoad <- function(libname, pkgname) {
  # The delayed import starts Python on first use only (reticulate's idiom).
  if (requireNamespace("reticulate", quietly = TRUE)) {
    .rsk$bridge <- reticulate::import("robustsk._r_bridge", delay_load = list(
      before_load = function() .rsk_choose_python()))
  }
}

# Honour ROBUSTSK_PYTHON / options(robustsk.python) unless Python already runs
# (inside rpy2, or after reticulate::use_python()) or RETICULATE_PYTHON is set.
.rsk_choose_python <- function() {
  if (reticulate::py_available(initialize = FALSE)) return(invisible(NULL))
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) return(invisible(NULL))
  wanted <- c(getOption("robustsk.python", ""), Sys.getenv("ROBUSTSK_PYTHON"))
  wanted <- wanted[nzchar(wanted)]
  if (length(wanted)) reticulate::use_python(wanted[1], required = TRUE)
  invisible(NULL)
}

#' Is the Python side of robustsk usable from this R session?
#'
#' @return TRUE if reticulate is installed and a Python with robustsk can be loaded.
#' @export
rsk_python_available <- function() {
  if (!requireNamespace("reticulate", quietly = TRUE)) return(FALSE)
  ok <- tryCatch({
    .rsk_choose_python()
    reticulate::py_module_available("robustsk._r_bridge")
  }, error = function(e) FALSE)
  isTRUE(ok)
}

.rsk_bridge <- function() {
  if (!requireNamespace("reticulate", quietly = TRUE)) {
    stop("the R package 'reticulate' is not installed. ", .rsk_install_hint, call. = FALSE)
  }
  if (!is.null(.rsk$loaded)) return(.rsk$loaded)
  err <- NULL
  bridge <- tryCatch({
    .rsk_choose_python()
    if (!reticulate::py_module_available("robustsk._r_bridge")) {
      cfg <- tryCatch(reticulate::py_config()$python, error = function(e) "none found")
      stop(sprintf("Python (%s) has no module 'robustsk._r_bridge' (robustsk not installed, or too old).", cfg), call. = FALSE)
    }
    if (!is.null(.rsk$bridge)) .rsk$bridge else reticulate::import("robustsk._r_bridge")
  }, error = function(e) { err <<- conditionMessage(e); NULL })
  if (is.null(bridge)) {
    stop("cannot load robustsk's Python side: ", err, " ", .rsk_install_hint, call. = FALSE)
  }
  .rsk$loaded <- bridge
  bridge
}

# Errors raised in Python reach R with reticulate's traceback; keep the message.
.rsk_call <- function(fun, ...) {
  tryCatch(fun(...), error = function(e) {
    msg <- sub("^(Error in py_call_impl[^\n]*\n)?", "", conditionMessage(e))
    msg <- strsplit(msg, "\n", fixed = TRUE)[[1]]
    msg <- msg[nzchar(trimws(msg)) & !grepl("^(Run `reticulate::py_last_error|Detailed traceback)", msg)]
    stop("robustsk (Python): ", paste(utils::head(msg, 3), collapse = " "), call. = FALSE)
  })
}

# x as a flat row-major vector and its dimensions: one row per example.
.rsk_x <- function(x, image_shape = NULL, name = "x") {
  if (is.data.frame(x)) {
    bad <- !vapply(x, function(col) is.numeric(col) || is.logical(col), logical(1))
    if (any(bad)) {
      stop(sprintf("%s has non-numeric column(s) %s; expected numeric features only. Drop the label column, or encode factors with model.matrix().",
                   name, paste(base::names(x)[bad], collapse = ", ")), call. = FALSE)
    }
    x <- as.matrix(x)
  }
  if (!is.matrix(x) || !(is.numeric(x) || is.logical(x))) {
    stop(sprintf("%s must be a numeric matrix or data.frame, one row per example; got %s. For one example use matrix(x, nrow = 1).",
                 name, .describe(x)), call. = FALSE)
  }
  if (nrow(x) == 0 || ncol(x) == 0) stop(sprintf("%s has no rows or no columns.", name), call. = FALSE)
  if (anyNA(x) || any(!is.finite(x))) {
    stop(sprintf("%s has missing or infinite values; impute or drop those rows first.", name), call. = FALSE)
  }
  shape <- ncol(x)
  if (!is.null(image_shape)) {
    image_shape <- as.integer(image_shape)
    if (prod(image_shape) != ncol(x)) {
      stop(sprintf("image_shape = c(%s) holds %d pixels but %s has %d columns; the columns must be the pixels of one image in row-major order (as rsk_load_digits() gives).",
                   paste(image_shape, collapse = ", "), prod(image_shape), name, ncol(x)), call. = FALSE)
    }
    shape <- image_shape
  }
  storage.mode(x) <- "double"
  list(data = as.numeric(t(x)), shape = as.list(as.integer(c(nrow(x), shape))), n = nrow(x))
}

# Labels as a plain list for Python, plus what is needed to give them back.
# With `like` (a fitted model's label_info), y is coerced to the fitted type.
.rsk_y <- function(y, n, like = NULL) {
  if (is.data.frame(y) && ncol(y) == 1) y <- y[[1]]
  if (is.null(y) || !is.atomic(y) || !is.null(dim(y)) && length(dim(y)) > 1) {
    stop(sprintf("y must be a vector (or factor) of labels, one per row of x; got %s.", .describe(y)), call. = FALSE)
  }
  if (length(y) != n) stop(sprintf("x has %d rows but y has %d labels.", n, length(y)), call. = FALSE)
  if (anyNA(y)) stop(sprintf("y has NA at position %d; drop unlabeled rows.", which(is.na(y))[1]), call. = FALSE)
  if (!is.null(like)) {
    if (like$type %in% c("integer", "double")) {
      num <- suppressWarnings(as.numeric(as.character(y)))
      if (anyNA(num)) {
        stop("the model was fitted on numeric labels but y has non-numeric ones; give y as in rsk_fit().", call. = FALSE)
      }
      y <- num
    } else if (like$type == "logical") {
      y <- as.logical(as.character(y))
    } else {
      y <- as.character(y)
    }
  }
  if (is.factor(y)) {
    info <- list(type = "factor", levels = levels(y))
    y <- as.character(y)
  } else if (is.character(y)) {
    info <- list(type = "character")
  } else if (is.logical(y)) {
    info <- list(type = "logical")
    y <- as.character(y)
  } else if (is.numeric(y)) {
    info <- list(type = if (is.integer(y)) "integer" else "double")  # back as given
  } else {
    stop(sprintf("y must be numeric, character, logical or factor; got %s.", .describe(y)), call. = FALSE)
  }
  list(labels = as.list(y), info = info)
}

.rsk_labels_back <- function(values, info) {
  values <- unlist(values, use.names = FALSE)
  switch(info$type,
    factor = factor(as.character(values), levels = info$levels),
    character = as.character(values),
    logical = as.logical(values),
    integer = {
      v <- round(as.numeric(values))
      if (all(abs(v) <= .Machine$integer.max)) as.integer(v) else v
    },
    as.numeric(values))
}

.rsk_model <- function(model) {
  if (!inherits(model, "rsk_model")) {
    stop(sprintf("model must be a fitted model from rsk_fit(); got %s.", .describe(model)), call. = FALSE)
  }
  model
}

# The model's Python object. After saveRDS()/readRDS() (or in a new R session)
# reticulate's pointer is NULL: the model is rebuilt once from `saved`, the
# bytes of robustsk.io's safe format (no pickle) that rsk_fit() stored, and
# cached in the model's environment `cache`.
.rsk_py <- function(model) {
  cached <- if (is.environment(model$cache)) model$cache$py else NULL
  for (py in list(cached, model$py)) {
    if (inherits(py, "python.builtin.object") && !reticulate::py_is_null_xptr(py)) return(py)
  }
  if (!is.raw(model$saved)) {
    stop("this rsk_model's Python object is gone (saved with saveRDS, or from another R session) and it holds no saved copy of the model: fit it again with rsk_fit().", call. = FALSE)
  }
  py <- .rsk_call(.rsk_bridge()$loads, model$saved)
  if (is.environment(model$cache)) assign("py", py, envir = model$cache)
  py
}

#' Load scikit-learn's handwritten digits (8 x 8 images) as a data.frame
#'
#' @param n_class number of classes, digits 0 .. n_class - 1.
#' @return a data.frame with 64 pixel columns r1c1 .. r8c8 (grey level / 16,
#'   in [0, 1], row-major) and an integer column \code{label}.
#' @export
rsk_load_digits <- function(n_class = 10) {
  b <- .rsk_bridge()
  d <- .rsk_call(b$load_digits, as.integer(n_class))
  shape <- as.integer(unlist(d$shape))
  x <- matrix(as.numeric(unlist(d$data)), nrow = shape[1], ncol = shape[2], byrow = TRUE)
  colnames(x) <- sprintf("r%dc%d", (seq_len(shape[2]) - 1) %/% 8 + 1, (seq_len(shape[2]) - 1) %% 8 + 1)
  out <- as.data.frame(x)
  out$label <- as.integer(unlist(d$target))
  out
}

#' Fit a robustsk defense on an R matrix or data.frame
#'
#' @param defense "TRADES", "AdversarialTraining", "StandardTraining",
#'   "FriendlyAdversarialTraining" or "FastAdversarialTraining".
#' @param x numeric matrix or data.frame, one row per example.
#' @param y labels (numeric, character, logical or factor), one per row.
#' @param image_shape NULL for flat features (an MLP), or c(C, H, W) / c(H, W)
#'   when each row holds an image in row-major order (a small CNN).
#' @param ... parameters of the Python estimator: max_epochs, eps, clip_min,
#'   clip_max, random_state, lr, batch_size, beta, ...
#' @return an object of class rsk_model. It holds the fitted Python object and
#'   a copy of it in robustsk's safe format (an R raw vector, no pickle), so
#'   saveRDS() and readRDS() work: the Python object is rebuilt on first use.
#' @export
rsk_fit <- function(defense = "TRADES", x, y, image_shape = NULL, ...) {
  params <- list(...)
  if (length(params) && (is.null(base::names(params)) || any(!nzchar(base::names(params))))) {
    stop("parameters in ... must be named, e.g. rsk_fit('TRADES', x, y, max_epochs = 5).", call. = FALSE)
  }
  xx <- .rsk_x(x, image_shape)
  yy <- .rsk_y(y, xx$n)
  b <- .rsk_bridge()
  py <- .rsk_call(b$fit, defense, xx$data, xx$shape, yy$labels, params)
  info <- .rsk_call(b$describe, py)
  # classes as R orders them: a factor's in the order of its levels (Python sorts the
  # label text); py_classes keeps Python's order, that of predict_proba's columns
  py_classes <- .rsk_labels_back(info$classes, yy$info)
  classes <- if (yy$info$type == "factor") sort(py_classes) else py_classes
  cache <- new.env(parent = emptyenv())
  cache$py <- py
  saved <- tryCatch(.rsk_call(b$dumps, py), error = function(e) {
    warning("this model cannot be kept for saveRDS() (", conditionMessage(e), "); it works ",
            "in this R session only.", call. = FALSE)
    NULL
  })
  structure(list(py = py, saved = saved, cache = cache,
                 defense = info$defense, label_info = yy$info,
                 classes = classes, py_classes = py_classes,
                 image_shape = image_shape, n_features = ncol(as.matrix(x)),
                 params = info$params), class = "rsk_model")
}

#' @export
print.rsk_model <- function(x, ...) {
  p <- x$params
  cat(sprintf("robustsk %s fitted from R: %d classes, %s input, eps = %s (%s norm), %s epochs\n",
              x$defense, length(x$classes),
              if (is.null(x$image_shape)) sprintf("%d features", x$n_features)
              else paste(x$image_shape, collapse = " x "),
              format(p$eps), format(p$norm), format(p$max_epochs)))
  invisible(x)
}

#' Predict with a model fitted by rsk_fit
#'
#' @param model an rsk_model from rsk_fit().
#' @param x numeric matrix or data.frame with the columns used in rsk_fit().
#' @param type "class" (labels, of the type y had) or "prob" (a data.frame of
#'   class probabilities, one column per class, named by the class, in the order
#'   of model$classes: a factor's in the order of its levels).
#' @return a vector of labels, or a data.frame of probabilities.
#' @export
rsk_predict <- function(model, x, type = c("class", "prob")) {
  model <- .rsk_model(model)
  type <- match.arg(type)
  xx <- .rsk_x(x, model$image_shape)
  b <- .rsk_bridge()
  if (type == "class") {
    return(.rsk_labels_back(.rsk_call(b$predict, .rsk_py(model), xx$data, xx$shape), model$label_info))
  }
  p <- .rsk_call(b$predict_proba, .rsk_py(model), xx$data, xx$shape)
  shape <- as.integer(unlist(p$shape))
  m <- matrix(as.numeric(unlist(p$data)), nrow = shape[1], ncol = shape[2], byrow = TRUE)
  colnames(m) <- as.character(if (is.null(model$py_classes)) model$classes else model$py_classes)
  as.data.frame(m[, as.character(model$classes), drop = FALSE], check.names = FALSE)
}

#' @export
predict.rsk_model <- function(object, newdata, type = c("class", "prob"), ...) {
  rsk_predict(object, newdata, type = type)
}

#' Robust accuracy of a fitted model under an attack, with confidence intervals
#'
#' @param model an rsk_model from rsk_fit().
#' @param x,y test examples and labels.
#' @param attack "default" (the attack Python's score_adversarial uses: PGD-20 with
#'   3 restarts, APGD-CE, then a scale-invariant APGD, each on the examples the
#'   earlier ones left standing; it takes no parameters besides eps), or one
#'   attack: "pgd", "fgsm", "apgd", "rfgsm".
#' @param eps one radius or a vector of distinct radii (a repeated radius is
#'   an error, as in robustsk.evaluation); NULL uses the model's eps.
#' @param ... attack parameters (n_iter, step_size, n_restarts, random_state, ...).
#' @param per_example if TRUE, return the tidy per-example frame (example_id,
#'   (the row of x), eps, attack, clean_correct, correct, adv_pred) that the statistics
#'   functions of this package take.
#' @param method,alpha interval method and error rate, as in accuracy_interval().
#' @return a data.frame, one row per eps: defense, attack, eps, n,
#'   clean_accuracy, robust_accuracy, low, high, method, level.
#' @export
rsk_score_adversarial <- function(model, x, y, attack = "default", eps = NULL, ...,
                                  per_example = FALSE, method = "wilson", alpha = 0.05) {
  model <- .rsk_model(model)
  params <- list(...)
  if (length(params) && (is.null(base::names(params)) || any(!nzchar(base::names(params))))) {
    stop("attack parameters in ... must be named, e.g. n_iter = 20.", call. = FALSE)
  }
  if (!is.null(eps) && (!is.numeric(eps) || anyNA(eps) || any(eps < 0))) {
    stop(sprintf("eps must be NULL or non-negative numbers; got %s.", .describe(eps)), call. = FALSE)
  }
  if (anyDuplicated(eps)) {
    # as robustsk.evaluation's eps grid: a repeated radius would be scored twice
    # and pooled into one row with every example counted twice
    stop(sprintf("eps = c(%s) has repeated values: give each radius once, e.g. eps = unique(eps).",
                 paste(format(eps), collapse = ", ")), call. = FALSE)
  }
  xx <- .rsk_x(x, model$image_shape)
  yy <- .rsk_y(y, xx$n, like = model$label_info)
  b <- .rsk_bridge()
  r <- .rsk_call(b$score_adversarial, .rsk_py(model), xx$data, xx$shape, yy$labels, attack,
                 if (is.null(eps)) NULL else as.list(as.numeric(eps)), params)
  tidy <- data.frame(example_id = as.integer(unlist(r$example_id)) + 1L,  # row of x
                     eps = as.numeric(unlist(r$eps)),
                     attack = as.character(unlist(r$attack)),
                     clean_correct = as.logical(unlist(r$clean_correct)),
                     correct = as.logical(unlist(r$correct)),
                     stringsAsFactors = FALSE)
  tidy$adv_pred <- .rsk_labels_back(r$adv_pred, model$label_info)
  if (isTRUE(per_example)) return(tidy)
  rows <- lapply(split(tidy, tidy$eps), function(d) {
    ci <- accuracy_interval(d$correct, method = method, alpha = alpha)
    data.frame(defense = model$defense, attack = d$attack[1], eps = d$eps[1], n = nrow(d),
               clean_accuracy = mean(d$clean_correct), robust_accuracy = ci$estimate,
               low = ci$low, high = ci$high, method = ci$method, level = 1 - alpha,
               stringsAsFactors = FALSE)
  })
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

#' Limit the threads torch uses in the Python session
#'
#' @param n number of intra-op threads (1 is fastest for the small models here).
#' @return the number of threads now in use, invisibly.
#' @export
rsk_set_threads <- function(n = 1L) {
  invisible(.rsk_call(.rsk_bridge()$set_num_threads, as.integer(n)))
}
