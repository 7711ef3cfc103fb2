# The reticulate wrappers (R/python.R). They need reticulate and a Python with
# robustsk; without them the tests skip. Runs: ~15 s on one core.

# From a source checkout without `pip install -e .`, let Python find robustsk
# next to r_compat (set before Python starts; harmless when it is installed).
.repo_root <- normalizePath(file.path("..", "..", ".."), mustWork = FALSE)
if (file.exists(file.path(.repo_root, "robustsk", "_r_bridge.py")) &&
    !(requireNamespace("reticulate", quietly = TRUE) && reticulate::py_available())) {
  Sys.setenv(PYTHONPATH = paste(c(.repo_root, Sys.getenv("PYTHONPATH")[nzchar(Sys.getenv("PYTHONPATH"))]),
                                collapse = .Platform$path.sep))
}

skip_without_robustsk <- function() {
  skip_if_not_installed("reticulate")
  skip_if_not(rsk_python_available(), "no Python with robustsk for reticulate")
}

test_that("input checks fail in R with a clear message, before Python starts", {
  expect_error(.rsk_x(letters, NULL), "numeric matrix or data.frame")
  expect_error(.rsk_x(data.frame(a = 1:3, b = letters[1:3]), NULL), "non-numeric column\\(s\\) b")
  expect_error(.rsk_x(matrix(c(1, NA), 1), NULL), "missing or infinite")
  expect_error(.rsk_x(matrix(0, 2, 64), c(1, 7, 8)), "holds 56 pixels but x has 64 columns")
  expect_error(.rsk_y(1:3, 4), "x has 4 rows but y has 3 labels")
  expect_error(.rsk_y(c(1, NA), 2), "NA at position 2")
  expect_error(rsk_predict(list(), matrix(0, 1, 1)), "fitted model from rsk_fit")
})

test_that("a repeated radius is refused before Python starts, as robustsk.evaluation does", {
  # pooled by split(tidy, tidy$eps), eps = c(0.1, 0.1) counted every example twice
  fake <- structure(list(image_shape = NULL, label_info = list(type = "integer")), class = "rsk_model")
  expect_error(rsk_score_adversarial(fake, matrix(0, 2, 3), 1:2, eps = c(0.1, 0.05, 0.1)),
               "eps = c\\(0.10, 0.05, 0.10\\) has repeated values: give each radius once")
})

test_that("x crosses as a row-major vector with its shape", {
  x <- matrix(1:6, nrow = 2, byrow = TRUE)
  xx <- .rsk_x(x, NULL)
  expect_equal(xx$data, as.numeric(1:6))
  expect_equal(unlist(xx$shape), c(2L, 3L))
  expect_equal(unlist(.rsk_x(matrix(0, 3, 4), c(1, 2, 2))$shape), c(3L, 1L, 2L, 2L))
  lab <- .rsk_y(factor(c("b", "a", "b")), 3)
  expect_equal(.rsk_labels_back(unlist(lab$labels), lab$info), factor(c("b", "a", "b")))
  expect_equal(unlist(.rsk_y(factor(c("3", "1")), 2, like = list(type = "integer"))$labels), c(3, 1))
})

test_that("a missing Python or robustsk gives an install hint, not a traceback", {
  skip_if_not_installed("reticulate")
  skip_if(Sys.which("Rscript") == "", "needs Rscript for a fresh R session")
  files <- normalizePath(list.files(file.path("..", "..", "R"), pattern = "[.]R$", full.names = TRUE))
  skip_if(length(files) == 0, "runs from a source checkout only")
  script <- tempfile(fileext = ".R")
  writeLines(c(sprintf("for (f in c(%s)) source(f)", paste(dQuote(files, FALSE), collapse = ", ")),
               "cat(rsk_python_available(), '\\n')",
               "tryCatch(rsk_load_digits(), error = function(e) cat(conditionMessage(e)))"), script)
  env <- c("ROBUSTSK_PYTHON=/nonexistent/python3", "RETICULATE_PYTHON=")
  out <- paste(suppressWarnings(system2("Rscript", script, stdout = TRUE, stderr = TRUE, env = env)),
               collapse = "\n")
  expect_match(out, "FALSE")
  expect_match(out, "cannot load robustsk's Python side")
  expect_match(out, "ROBUSTSK_PYTHON")
})

test_that("TRADES fitted on digits from R: robust accuracy with its interval as a data.frame", {
  skip_without_robustsk()
  rsk_set_threads(1)
  d <- rsk_load_digits()
  expect_equal(dim(d), c(1797L, 65L))
  expect_true(all(d[, 1:64] >= 0 & d[, 1:64] <= 1))
  train <- 1:400
  test <- 401:500
  model <- rsk_fit("TRADES", d[train, 1:64], d$label[train], image_shape = c(1, 8, 8),
                   max_epochs = 3, eps = 0.1, clip_min = 0, clip_max = 1, random_state = 0)
  expect_s3_class(model, "rsk_model")
  expect_equal(model$classes, 0:9)
  expect_output(print(model), "TRADES fitted from R: 10 classes")

  pred <- rsk_predict(model, d[test, 1:64])
  expect_type(pred, "integer")
  expect_length(pred, 100)
  expect_gt(mean(pred == d$label[test]), 0.5)
  prob <- predict(model, d[test[1:5], 1:64], type = "prob")
  expect_equal(dim(prob), c(5L, 10L))
  expect_equal(rowSums(prob), rep(1, 5), tolerance = 1e-5)

  res <- rsk_score_adversarial(model, d[test, 1:64], d$label[test], attack = "pgd",
                               eps = c(0.05, 0.1), n_iter = 10, random_state = 0)
  print(res)
  expect_s3_class(res, "data.frame")
  expect_named(res, c("defense", "attack", "eps", "n", "clean_accuracy", "robust_accuracy",
                      "low", "high", "method", "level"))
  expect_equal(res$eps, c(0.05, 0.1))
  expect_true(all(res$low <= res$robust_accuracy & res$robust_accuracy <= res$high))
  expect_true(all(res$robust_accuracy <= res$clean_accuracy))
  expect_gte(res$robust_accuracy[1], res$robust_accuracy[2])

  tidy <- rsk_score_adversarial(model, d[test, 1:64], d$label[test], eps = c(0.05, 0.1),
                                attack = "pgd", n_iter = 10, random_state = 0, per_example = TRUE)
  expect_equal(nrow(tidy), 200L)
  # left unset, the attack is Python's default (the three-stage worst case), not one PGD
  dflt <- rsk_score_adversarial(model, d[test[1:20], 1:64], d$label[test[1:20]])
  expect_identical(dflt$attack, "default")
  expect_equal(sort(unique(tidy$example_id)), 1:100)
  # The summary row is the R twin's interval of the per-example outcomes.
  ci <- accuracy_interval(tidy$correct[tidy$eps == 0.1])
  expect_equal(c(ci$estimate, ci$low, ci$high), unlist(res[2, c("robust_accuracy", "low", "high")]),
               ignore_attr = TRUE)
  # ... and it feeds the other statistics of this package unchanged.
  expect_s3_class(robust_accuracy_from_correct(tidy$clean_correct[tidy$eps == 0.1],
                                               tidy$correct[tidy$eps == 0.1]), "robustsk_result")
})

test_that("factor labels, flat features (an MLP) and Python errors reach R", {
  skip_without_robustsk()
  rsk_set_threads(1)
  d <- rsk_load_digits(n_class = 2)
  y <- factor(ifelse(d$label == 1, "one", "zero"), levels = c("zero", "one"))
  model <- rsk_fit("AdversarialTraining", as.matrix(d[1:200, 1:64]), y[1:200], max_epochs = 2,
                   eps = 0.05, n_iter = 3, random_state = 1)
  pred <- rsk_predict(model, d[201:260, 1:64])
  expect_s3_class(pred, "factor")
  expect_equal(levels(pred), c("zero", "one"))
  expect_gt(mean(pred == y[201:260]), 0.8)
  expect_equal(model$classes, factor(c("zero", "one"), levels = c("zero", "one")))
  prob <- rsk_predict(model, d[201:260, 1:64], type = "prob")
  expect_equal(colnames(prob), c("zero", "one"))  # the levels' order, not "one" < "zero"
  expect_equal(colnames(prob)[max.col(as.matrix(prob), ties.method = "first")],
               as.character(pred))
  res <- rsk_score_adversarial(model, d[201:260, 1:64], as.character(y[201:260]), attack = "fgsm")
  expect_equal(res$eps, 0.05)  # the model's own eps
  expect_error(rsk_fit("NoSuchDefense", d[1:10, 1:64], y[1:10]), "not a robustsk defense")
  expect_error(rsk_score_adversarial(model, d[1:10, 1:64], y[1:10], attack = "cw"), "not known")
  expect_error(rsk_fit("TRADES", d[1:10, 1:64], y[1:10], NULL, 5), "must be named")
})

test_that("numeric labels come back as given: doubles as doubles, beyond R's integers too", {
  skip_without_robustsk()
  rsk_set_threads(1)
  d <- rsk_load_digits(n_class = 3)
  y <- c(3e9, 4e9, 5e9)[d$label[1:90] + 1]  # reticulate 1.28 wrapped these to 32 bits
  model <- rsk_fit("StandardTraining", d[1:90, 1:64], y, max_epochs = 1, random_state = 0)
  expect_equal(model$classes, c(3e9, 4e9, 5e9))
  pred <- rsk_predict(model, d[1:10, 1:64])
  expect_type(pred, "double")
  expect_true(all(pred %in% c(3e9, 4e9, 5e9)))
  expect_equal(colnames(predict(model, d[1:2, 1:64], type = "prob")),
               c("3e+09", "4e+09", "5e+09"))
  small <- rsk_fit("StandardTraining", d[1:90, 1:64], as.numeric(d$label[1:90]), max_epochs = 1,
                   random_state = 0)
  expect_type(rsk_predict(small, d[1:5, 1:64]), "double")  # a double y: doubles back
})
